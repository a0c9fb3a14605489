"""The answer of an OAuth 2.0 token endpoint (RFC 6749 5.1), for SASL/OAUTHBEARER.

Unknown fields are ignored (identity providers add their own); `expires_in` is optional in the
RFC, and some providers send it as a string.
"""

from __future__ import annotations

import msgspec


class TokenResponse(msgspec.Struct, frozen=True, kw_only=True):
    access_token: str
    token_type: str = ""
    #: Lifetime in seconds from now; absent: read the JWT's `exp`, or assume a short one.
    expires_in: float | str | None = None


class TokenError(msgspec.Struct, frozen=True, kw_only=True):
    """An error answer (RFC 6749 5.2): only `error` is shown, never the request."""

    error: str = ""


class JwtClaims(msgspec.Struct, frozen=True, kw_only=True):
    exp: float | None = None


TOKEN_DECODER = msgspec.json.Decoder(TokenResponse)
ERROR_DECODER = msgspec.json.Decoder(TokenError)
CLAIMS_DECODER = msgspec.json.Decoder(JwtClaims)
