"""Webhook signatures (CONTRACT 2).

Meta sends `x-hub-signature-256: sha256=<hex>`, Connectly `x-connectly-hmac-sha256: <base64>`,
both an HMAC-SHA256 of the body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

META_HEADER = "x-hub-signature-256"
CONNECTLY_HEADER = "x-connectly-hmac-sha256"


@dataclass(frozen=True, slots=True)
class SigningSecrets:
    """Secrets per source; an empty secret means that source is not verified."""

    meta: bytes = b""
    connectly: bytes = b""

    @property
    def any(self) -> bool:
        return bool(self.meta or self.connectly)


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


def sign_meta(body: bytes, secret: bytes) -> bytes:
    """The header value Meta would send: for tests, the generator and the demo."""
    return b"sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest().encode()


def sign_connectly(body: bytes, secret: bytes) -> bytes:
    return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest())
