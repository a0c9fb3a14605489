"""Webhook signatures (CONTRACT 2): Meta `sha256=<hex>`, Connectly base64 HMAC-SHA256."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable

import pytest

from processor.core.pipeline import Pipeline
from processor.core.records import OutputRecord
from processor.core.registry import Registry
from processor.core.signature import (
    CONNECTLY_HEADER,
    META_HEADER,
    SigningSecrets,
    connectly_signature_ok,
    meta_signature_ok,
    sign_connectly,
    sign_meta,
)

Run = Callable[..., list[OutputRecord]]
SECRET = b"app-secret"
BODY = b'{"object":"whatsapp_business_account","entry":[]}'


def test_sign_meta_matches_an_independent_hmac() -> None:
    expected = "sha256=" + hmac.new(SECRET, BODY, hashlib.sha256).hexdigest()
    assert sign_meta(BODY, SECRET) == expected.encode()
    assert meta_signature_ok(BODY, expected.encode(), SECRET)
    assert meta_signature_ok(BODY, expected.upper().replace("SHA256=", "sha256=").encode(), SECRET)


@pytest.mark.parametrize(
    "header",
    [
        None,
        b"",
        b"sha256=",
        b"sha1=" + hmac.new(SECRET, BODY, hashlib.sha1).hexdigest().encode(),
        hmac.new(SECRET, BODY, hashlib.sha256).hexdigest().encode(),  # no sha256= prefix
        sign_meta(BODY, b"other-secret"),
        sign_meta(BODY + b" ", SECRET),  # the signature of another body
        sign_connectly(BODY, SECRET),  # Connectly's form
    ],
)
def test_meta_signature_rejected(header: bytes | None) -> None:
    assert not meta_signature_ok(BODY, header, SECRET)


def test_sign_connectly_matches_an_independent_hmac() -> None:
    expected = base64.b64encode(hmac.new(SECRET, BODY, hashlib.sha256).digest())
    assert sign_connectly(BODY, SECRET) == expected
    assert connectly_signature_ok(BODY, expected, SECRET)


@pytest.mark.parametrize(
    "header",
    [
        None,
        b"",
        b"%%% not base64 %%%",
        sign_connectly(BODY, b"other-secret"),
        sign_connectly(b"{}", SECRET),
        sign_meta(BODY, SECRET),  # Meta's form
        hmac.new(SECRET, BODY, hashlib.sha256).hexdigest().encode(),
    ],
)
def test_connectly_signature_rejected(header: bytes | None) -> None:
    assert not connectly_signature_ok(BODY, header, SECRET)


def test_secrets_any() -> None:
    assert not SigningSecrets().any
    assert SigningSecrets(meta=b"x").any
    assert SigningSecrets(connectly=b"y").any


# --- through the pipeline: a bad signature is dead-lettered, never processed ----------------


@pytest.fixture
def signed(registry: Registry) -> Pipeline:
    return Pipeline(registry=registry, secrets=SigningSecrets(meta=SECRET, connectly=SECRET))


def dlq_code(out: list[OutputRecord]) -> bytes | None:
    assert len(out) == 1
    return dict(out[0].headers).get("dlq.error.code") if out[0].route == "dlq" else None


META_SAMPLE = "meta_inbound_bsuid_only"
CONNECTLY_SAMPLE = "connectly_inbound_bsuid_only"


def test_valid_signatures_are_processed(
    signed: Pipeline, run: Run, sample: Callable[[str], bytes]
) -> None:
    meta = sample(META_SAMPLE)
    connectly = sample(CONNECTLY_SAMPLE)
    assert dlq_code(run(meta, signed, headers=[(META_HEADER, sign_meta(meta, SECRET))])) is None
    assert (
        dlq_code(
            run(connectly, signed, headers=[(CONNECTLY_HEADER, sign_connectly(connectly, SECRET))])
        )
        is None
    )
    # With the source named explicitly as well.
    headers = [("webhook-source", b"meta"), (META_HEADER, sign_meta(meta, SECRET))]
    assert dlq_code(run(meta, signed, headers=headers)) is None


@pytest.mark.parametrize(
    "headers",
    [
        [],  # missing
        [("webhook-source", b"meta")],  # named but not signed
        [(META_HEADER, sign_meta(b"another body", SECRET))],
        [(META_HEADER, sign_meta(b"", b"wrong"))],
        [(META_HEADER, b"sha256=zz")],
    ],
)
def test_bad_meta_signature_is_dead_lettered(
    headers: list[tuple[str, bytes]], signed: Pipeline, run: Run, sample: Callable[[str], bytes]
) -> None:
    body = sample(META_SAMPLE)
    out = run(body, signed, headers=headers, key=b"k1")
    assert dlq_code(out) == b"bad_signature"
    assert out[0].value == body
    assert out[0].key == b"k1"
    assert out[0].headers[: len(headers)] == headers
    assert signed.stats.dead_letters == {"bad_signature": 1}
    assert not signed.stats.events


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("webhook-source", b"connectly")],
        [(CONNECTLY_HEADER, sign_connectly(b"another body", SECRET))],
        [(CONNECTLY_HEADER, b"not base64!")],
    ],
)
def test_bad_connectly_signature_is_dead_lettered(
    headers: list[tuple[str, bytes]], signed: Pipeline, run: Run, sample: Callable[[str], bytes]
) -> None:
    out = run(sample(CONNECTLY_SAMPLE), signed, headers=headers)
    assert dlq_code(out) == b"bad_signature"


def test_signature_is_checked_before_the_body_is_read(signed: Pipeline, run: Run) -> None:
    # The headers name the format, so untrusted bytes are rejected unread.
    assert dlq_code(run(b"{not json", signed, headers=[("webhook-source", b"meta")])) == (
        b"bad_signature"
    )


def test_only_configured_sources_are_verified(
    registry: Registry, run: Run, sample: Callable[[str], bytes]
) -> None:
    meta_only = Pipeline(registry=registry, secrets=SigningSecrets(meta=SECRET))
    assert dlq_code(run(sample(CONNECTLY_SAMPLE), meta_only)) is None
    assert dlq_code(run(sample(META_SAMPLE), meta_only)) == b"bad_signature"
