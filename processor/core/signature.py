"""Webhook signatures (docs/providers.md).

Meta sends `x-hub-signature-256: sha256=<hex>`, Connectly `x-connectly-hmac-sha256: <base64>`,
both an HMAC-SHA256 of the body. Vonage sends `authorization: Bearer <JWT>`: an HS256 JWT
signed with the account's signature secret whose `payload_hash` claim is the SHA-256 (hex) of
the body. WATI documents no signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import jwt

if TYPE_CHECKING:
    from jwt.types import Options

    from schemas.settings import Settings

META_HEADER = "x-hub-signature-256"
CONNECTLY_HEADER = "x-connectly-hmac-sha256"
#: Kafka header names are lower case, as the webhook receiver writes them (HTTP's are not
#: case-sensitive, Kafka's are).
VONAGE_HEADER = "authorization"

#: The pure core has no clock: a record is judged by its bytes alone, so a replay next year
#: verifies as it did today. Token age (`iat`, `exp`) is the webhook receiver's concern.
_NO_CLOCK: Final[Options] = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
    "require": ["payload_hash"],
}


@dataclass(frozen=True, slots=True)
class SigningSecrets:
    """Secrets per source; an empty secret means that source is not verified."""

    meta: bytes = b""
    connectly: bytes = b""
    vonage: bytes = b""

    @classmethod
    def of(cls, settings: Settings) -> SigningSecrets:
        """The secrets of the settings: every caller builds them here, in one place. With
        `verify_signatures` off, none: nothing is verified."""
        if not settings.verify_signatures:
            return cls()
        return cls(
            meta=settings.meta_app_secret.encode(),
            connectly=settings.connectly_webhook_secret.encode(),
            vonage=settings.vonage_signature_secret.encode(),
        )

    @property
    def any(self) -> bool:
        return bool(self.meta or self.connectly or self.vonage)


def meta_signature_ok(body: bytes, header: bytes | None, secret: bytes) -> bool:
    if header is None or not header.startswith(b"sha256="):
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
    # compare_digest: a timing side channel must not reveal how much of a guess matched.
    return hmac.compare_digest(expected, header[7:].strip().lower())


def connectly_signature_ok(body: bytes, header: bytes | None, secret: bytes) -> bool:
    if header is None:
        return False
    try:
        given = base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(hmac.new(secret, body, hashlib.sha256).digest(), given)


def vonage_signature_ok(body: bytes, header: bytes | None, secret: bytes) -> bool:
    """A JWT signed with `secret` (HS256 only: no `none`, no algorithm confusion) whose
    `payload_hash` is this body's: a genuine token replayed with another body fails."""
    if header is None:
        return False
    scheme, _, token = header.strip().partition(b" ")
    if scheme.lower() != b"bearer" or not token:
        return False
    try:
        claims = jwt.decode(token.strip(), secret, algorithms=["HS256"], options=_NO_CLOCK)
    except (jwt.PyJWTError, ValueError, TypeError):
        # ValueError: bytes that are not UTF-8 or JSON inside a well-formed-looking token.
        return False
    given = claims.get("payload_hash")
    if not isinstance(given, str):
        return False
    expected = hashlib.sha256(body).hexdigest()
    return hmac.compare_digest(expected.encode(), given.lower().encode())


def sign_meta(body: bytes, secret: bytes) -> bytes:
    """The header value Meta would send: for tests, the generator and the demo."""
    return b"sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest().encode()


def sign_connectly(body: bytes, secret: bytes) -> bytes:
    return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest())


def sign_vonage(body: bytes, secret: bytes, *, issued_at: int = 0, jti: str = "") -> bytes:
    """The `authorization` value Vonage would send, with its documented claims; deterministic
    for the same arguments (the generator's streams must be)."""
    claims = {
        "iat": issued_at,
        "jti": jti,
        "iss": "Vonage",
        "payload_hash": hashlib.sha256(body).hexdigest(),
        "api_key": "a1b2c3d4",
        "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
    }
    return b"Bearer " + jwt.encode(claims, secret, algorithm="HS256").encode()
