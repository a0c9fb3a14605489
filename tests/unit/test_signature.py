"""Webhook signatures (docs/providers.md): Meta `sha256=<hex>`, Connectly base64 HMAC-SHA256,
Vonage an HS256 JWT whose `payload_hash` is the body's SHA-256."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable

import jwt
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
    sign_vonage,
    vonage_signature_ok,
)
from processor.settings import load_settings

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
    assert SigningSecrets(vonage=b"z").any


def test_secrets_of_settings() -> None:
    env = {
        "META_APP_SECRET": "m-secret",
        "CONNECTLY_WEBHOOK_SECRET": "c-secret",
        "VONAGE_SIGNATURE_SECRET": "v-secret",
    }
    secrets = SigningSecrets.of(load_settings({}, environ=env))
    assert secrets == SigningSecrets(meta=b"m-secret", connectly=b"c-secret", vonage=b"v-secret")
    assert SigningSecrets.of(load_settings({}, environ={})) == SigningSecrets()


# --- Vonage: an HS256 JWT in `authorization` ------------------------------------------------

#: Vonage recommends long signature secrets; PyJWT warns about keys shorter than the hash
#: (32 bytes for HS256, 64 for the HS512 token below).
VONAGE_SECRET = b"vonage-signature-secret-" + b"0123456789" * 5


def vonage_token(
    claims: dict[str, object], secret: bytes = VONAGE_SECRET, alg: str = "HS256"
) -> bytes:
    return b"Bearer " + jwt.encode(claims, secret, algorithm=alg).encode()


def test_vonage_signature_verifies_with_the_right_secret() -> None:
    header = sign_vonage(BODY, VONAGE_SECRET, issued_at=1782000000, jti="j-1")
    assert header.startswith(b"Bearer ")
    assert vonage_signature_ok(BODY, header, VONAGE_SECRET)
    # The claims Vonage documents, readable by any JWT library.
    claims = jwt.decode(header[7:], VONAGE_SECRET, algorithms=["HS256"])
    assert claims["payload_hash"] == hashlib.sha256(BODY).hexdigest()
    assert (claims["iat"], claims["jti"], claims["iss"]) == (1782000000, "j-1", "Vonage")
    # The bearer scheme is case-insensitive (RFC 6750).
    assert vonage_signature_ok(BODY, b"bearer " + header[7:], VONAGE_SECRET)


def test_vonage_token_age_is_not_judged() -> None:
    """No clock in the core: an expired or future-dated token verifies as it did when sent,
    so a replay a year later gives the same outputs."""
    payload_hash = hashlib.sha256(BODY).hexdigest()
    old = vonage_token({"iat": 1, "exp": 2, "payload_hash": payload_hash})
    future = vonage_token(
        {"iat": 4_000_000_000, "nbf": 4_000_000_000, "payload_hash": payload_hash}
    )
    assert vonage_signature_ok(BODY, old, VONAGE_SECRET)
    assert vonage_signature_ok(BODY, future, VONAGE_SECRET)


@pytest.mark.parametrize(
    "header",
    [
        None,
        b"",
        b"Bearer",
        b"Bearer ",
        b"Basic dXNlcjpwYXNz",
        b"Bearer not.a.jwt",
        b"Bearer \xff\xfe.\x00.x",
        sign_vonage(BODY, b"another-vonage-secret-0123456789"),  # wrong secret
        sign_vonage(BODY + b" ", VONAGE_SECRET),  # a genuine token of another body
        sign_vonage(BODY, VONAGE_SECRET)[7:],  # no scheme
        vonage_token({"iat": 1}),  # no payload_hash claim
        vonage_token({"payload_hash": 12345}),
        vonage_token({"payload_hash": hashlib.sha256(BODY).hexdigest()}, alg="HS512"),
        # alg "none": unsigned, never accepted.
        b"Bearer "
        + jwt.encode(
            {"payload_hash": hashlib.sha256(BODY).hexdigest()}, None, algorithm="none"
        ).encode(),
        sign_meta(BODY, VONAGE_SECRET),  # Meta's form
    ],
)
def test_vonage_signature_rejected(header: bytes | None) -> None:
    assert not vonage_signature_ok(BODY, header, VONAGE_SECRET)


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
