"""HMAC verification over arbitrary bodies and secrets (docs/providers.md): a signature is accepted
only for the very body and secret it was made with; a missing, wrong or replayed one (a
genuine signature of another body) is refused, and a refused input never produces an event.
The comparison is constant-time."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from processor.core import signature
from processor.core.pipeline import Pipeline
from processor.core.records import InputRecord
from processor.core.signature import (
    CONNECTLY_HEADER,
    META_HEADER,
    SigningSecrets,
    connectly_signature_ok,
    meta_signature_ok,
    sign_connectly,
    sign_meta,
)

from .checks import process, sample_registry, samples
from .strategies import mutated

SAMPLES = samples()
REGISTRY = sample_registry()
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

bodies = st.binary(max_size=600) | st.sampled_from(sorted(SAMPLES.values())) | mutated(SAMPLES)
secrets = st.binary(min_size=1, max_size=64)
Check = Callable[[bytes, bytes | None, bytes], bool]
Sign = Callable[[bytes, bytes], bytes]
FORMATS: list[tuple[str, Sign, Check]] = [
    ("meta", sign_meta, meta_signature_ok),
    ("connectly", sign_connectly, connectly_signature_ok),
]
formats = st.sampled_from(FORMATS)


@FAST
@given(body=bodies, secret=secrets, fmt=formats)
def test_a_signature_verifies_its_own_body(
    body: bytes, secret: bytes, fmt: tuple[str, Sign, Check]
) -> None:
    _, sign, check = fmt
    assert check(body, sign(body, secret), secret)


@FAST
@given(body=bodies, other=bodies, secret=secrets, fmt=formats)
def test_a_signature_of_another_body_is_refused(
    body: bytes, other: bytes, secret: bytes, fmt: tuple[str, Sign, Check]
) -> None:
    assume(body != other)
    _, sign, check = fmt
    assert not check(body, sign(other, secret), secret)


@FAST
@given(body=bodies, secret=secrets, wrong=secrets, fmt=formats)
def test_a_signature_with_another_secret_is_refused(
    body: bytes, secret: bytes, wrong: bytes, fmt: tuple[str, Sign, Check]
) -> None:
    assume(secret != wrong)
    _, sign, check = fmt
    assert not check(body, sign(body, wrong), secret)


@FAST
@given(body=bodies, secret=secrets, fmt=formats)
def test_a_missing_or_empty_signature_is_refused(
    body: bytes, secret: bytes, fmt: tuple[str, Sign, Check]
) -> None:
    _, _, check = fmt
    assert not check(body, None, secret)
    assert not check(body, b"", secret)


@FAST
@given(body=bodies, secret=secrets, index=st.integers(0, 31), bit=st.integers(0, 7))
def test_any_changed_digest_bit_is_refused(
    body: bytes, secret: bytes, index: int, bit: int
) -> None:
    digest = bytearray(hmac.new(secret, body, hashlib.sha256).digest())
    digest[index] ^= 1 << bit
    assert not meta_signature_ok(body, b"sha256=" + digest.hex().encode(), secret)
    assert not connectly_signature_ok(body, base64.b64encode(bytes(digest)), secret)


# -- through the pipeline ----------------------------------------------------------------------

SECRET = b"pipeline-secret"
#: How a record is signed, and the header that names its format.
BAD_SIGNINGS = ["missing", "replayed", "other_secret", "truncated", "swapped_format"]


def bad_headers(how: str, fmt: str, body: bytes) -> list[tuple[str, bytes]]:
    label = [("webhook-source", fmt.encode())]
    sign, header = (sign_meta, META_HEADER) if fmt == "meta" else (sign_connectly, CONNECTLY_HEADER)
    if how == "missing":
        return label
    if how == "replayed":
        return [*label, (header, sign(body + b"\n", SECRET))]
    if how == "other_secret":
        return [*label, (header, sign(body, b"not-" + SECRET))]
    if how == "truncated":
        return [*label, (header, sign(body, SECRET)[:-4])]
    # The right signature under the other format's header: still not this format's.
    other = CONNECTLY_HEADER if fmt == "meta" else META_HEADER
    other_sign = sign_connectly if fmt == "meta" else sign_meta
    return [*label, (other, other_sign(body, SECRET))]


@FAST
@given(
    body=bodies,
    how=st.sampled_from(BAD_SIGNINGS),
    fmt=st.sampled_from(["meta", "connectly"]),
)
def test_the_pipeline_dead_letters_every_bad_signature_unread(
    body: bytes, how: str, fmt: str
) -> None:
    pipeline = Pipeline(registry=REGISTRY, secrets=SigningSecrets(meta=SECRET, connectly=SECRET))
    record = InputRecord(value=body, key=b"k", headers=bad_headers(how, fmt, body), topic="raw")
    out = process(pipeline, record)
    assert [o.route for o in out] == ["dlq"]
    assert dict(out[0].headers)["dlq.error.code"] == b"bad_signature"
    assert not pipeline.stats.events


@FAST
@given(name=st.sampled_from(sorted(SAMPLES)))
def test_the_pipeline_publishes_a_rightly_signed_sample(name: str) -> None:
    body = SAMPLES[name]
    fmt, sign, header = (
        ("connectly", sign_connectly, CONNECTLY_HEADER)
        if name.startswith("connectly")
        else ("meta", sign_meta, META_HEADER)
    )
    signed = Pipeline(registry=REGISTRY, secrets=SigningSecrets(meta=SECRET, connectly=SECRET))
    plain = Pipeline(registry=REGISTRY)
    headers = [("webhook-source", fmt.encode()), (header, sign(body, SECRET))]
    got = process(signed, InputRecord(value=body, headers=headers, topic="raw"))
    want = process(plain, InputRecord(value=body, headers=headers, topic="raw"))
    # Verified, the record is processed exactly as without verification.
    assert [(o.route, o.key, o.value) for o in got] == [(o.route, o.key, o.value) for o in want]


# -- constant time -----------------------------------------------------------------------------


class _HmacSpy:
    """`hmac` as `processor.core.signature` sees it, with `compare_digest` watched."""

    def __init__(self, compare: Callable[[bytes, bytes], bool]) -> None:
        self.new = hmac.new
        self.compare_digest = compare


@pytest.mark.parametrize(("fmt", "sign", "check"), FORMATS)
def test_signatures_are_compared_in_constant_time(
    fmt: str, sign: Sign, check: Check, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both checks go through `hmac.compare_digest`, never `==` (which stops at the first
    differing byte and so tells an attacker how much of a guess was right)."""
    del fmt
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(signature, "hmac", _HmacSpy(spy))
    body, secret = b'{"object":"whatsapp_business_account"}', b"s"
    assert check(body, sign(body, secret), secret)
    assert not check(body, sign(body + b" ", secret), secret)
    assert len(calls) == 2
