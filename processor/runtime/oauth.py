"""SASL/OAUTHBEARER tokens from an OAuth 2.0 client-credentials endpoint (RFC 6749 4.4).

aiokafka asks `token()` on every new broker connection, so the token is cached and fetched
again only once most of its lifetime has passed (Kafka's own clients refresh at 80%,
`sasl.login.refresh.window.factor`). One provider serves every client of the process
(`token_provider`), so a worker with a consumer, producers and an admin client asks the
endpoint once per token lifetime, not once per connection.

The client secret is sent in an HTTP Basic header (RFC 6749 2.3.1, as Kafka's Java client
does), is not in any repr, and no error message or log line carries it or the token.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import aiohttp
import msgspec
import structlog
from aiokafka.abc import AbstractTokenProvider
from aiokafka.errors import KafkaConnectionError

from processor.settings import oauth_extensions
from schemas.oauth import CLAIMS_DECODER, ERROR_DECODER, TOKEN_DECODER
from schemas.settings import Settings

log = structlog.get_logger("processor.oauth")

#: Fetch a new token once this share of the current one's lifetime has passed.
REFRESH_FACTOR = 0.8
#: Lifetime assumed when the endpoint gives none and the token is not a JWT with `exp`.
UNKNOWN_LIFETIME_S = 60.0
HTTP_TIMEOUT_S = 10.0


class TokenFetchError(KafkaConnectionError):  # type: ignore[misc]  # aiokafka is untyped
    """No token: one line naming the setting. A connection error to aiokafka, so a running
    client retries the connection; `retriable` is False when retrying cannot help (4xx)."""

    def __init__(self, message: str, *, retriable: bool) -> None:
        self.message = f"setting sasl_oauth_token_url: {message}"
        super().__init__(self.message)
        self.retriable = retriable

    def __str__(self) -> str:
        return self.message  # KafkaError's would start with the class name


@dataclass(frozen=True)
class ClientCredentials:
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str = ""
    extensions: tuple[tuple[str, str], ...] = ()

    @property
    def where(self) -> str:
        """The endpoint without query or credentials, for messages."""
        url = urlsplit(self.token_url)
        return f"{url.scheme}://{url.hostname}{f':{url.port}' if url.port else ''}{url.path}"


class ClientCredentialsTokenProvider(AbstractTokenProvider):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(
        self, credentials: ClientCredentials, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.credentials = credentials
        self._clock = clock
        self._token = ""
        self._refresh_at = self._expires_at = 0.0
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        #: Requests made to the endpoint (tests and the log line count them).
        self.fetches = 0

    def __repr__(self) -> str:
        return f"ClientCredentialsTokenProvider({self.credentials.where})"

    def extensions(self) -> dict[str, str]:
        return dict(self.credentials.extensions)

    async def token(self) -> str:
        if self._token and self._clock() < self._refresh_at:
            return self._token
        # Many connections open at once at start: one request, the others wait for it.
        async with self._loop_lock():
            now = self._clock()
            if self._token and now < self._refresh_at:
                return self._token
            try:
                token, lifetime_s = await self._fetch()
            except TokenFetchError as exc:
                if self._token and now < self._expires_at:
                    # The current token is still good: use it and try again next time.
                    log.warning(
                        "token refresh failed; the current token is still valid", error=str(exc)
                    )
                    return self._token
                raise
            self._token = token
            self._expires_at = now + lifetime_s
            self._refresh_at = now + lifetime_s * REFRESH_FACTOR
            log.info("oauth token fetched", endpoint=self.credentials.where, lifetime_s=lifetime_s)
            return token

    def _loop_lock(self) -> asyncio.Lock:
        # An asyncio.Lock belongs to one event loop; a command may run several in turn.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    async def _fetch(self) -> tuple[str, float]:
        creds = self.credentials
        self.fetches += 1
        form = {"grant_type": "client_credentials"}
        if creds.scope:
            form["scope"] = creds.scope
        # RFC 6749 2.3.1: id and secret are form-encoded before they go into the Basic header.
        pair = f"{quote(creds.client_id, safe='')}:{quote(creds.client_secret, safe='')}"
        headers = {
            "Accept": "application/json",
            "Authorization": "Basic " + base64.b64encode(pair.encode()).decode(),
        }
        timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(creds.token_url, data=form, headers=headers) as response,
            ):
                status, body = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TokenFetchError(
                f"no answer from the token endpoint {creds.where} ({type(exc).__name__})",
                retriable=True,
            ) from None
        if status != 200:
            raise TokenFetchError(
                f"the token endpoint {creds.where} answered HTTP {status}{_oauth_error(body)}",
                retriable=status >= 500 or status == 429,
            )
        try:
            answer = TOKEN_DECODER.decode(body)
        except msgspec.DecodeError:
            raise TokenFetchError(
                f"the token endpoint {creds.where} did not answer with an access_token",
                retriable=False,
            ) from None
        if not answer.access_token:
            raise TokenFetchError(
                f"the token endpoint {creds.where} answered an empty access_token", retriable=False
            )
        return answer.access_token, _lifetime_s(answer.expires_in, answer.access_token)


def _oauth_error(body: bytes) -> str:
    """`: <error code>` from an RFC 6749 error answer (never the description: it may echo
    the request)."""
    try:
        code = ERROR_DECODER.decode(body).error
    except msgspec.DecodeError:
        return ""
    return f": {code[:64]}" if code else ""


def _lifetime_s(expires_in: float | str | None, token: str) -> float:
    if expires_in is not None:
        try:
            seconds = float(expires_in)
        except ValueError:
            seconds = 0.0
        if seconds > 0:
            return seconds
    exp = _jwt_exp(token)
    if exp is not None and exp > time.time():
        return exp - time.time()
    return UNKNOWN_LIFETIME_S


def _jwt_exp(token: str) -> float | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        return CLAIMS_DECODER.decode(payload).exp
    except (binascii.Error, ValueError, msgspec.DecodeError):
        return None


def credentials_of(settings: Settings) -> ClientCredentials:
    return ClientCredentials(
        token_url=settings.sasl_oauth_token_url,
        client_id=settings.sasl_oauth_client_id,
        client_secret=settings.sasl_oauth_client_secret,
        scope=settings.sasl_oauth_scope,
        extensions=tuple(oauth_extensions(settings.sasl_oauth_extensions).items()),
    )


@functools.cache
def _shared(credentials: ClientCredentials) -> ClientCredentialsTokenProvider:
    return ClientCredentialsTokenProvider(credentials)


def token_provider(settings: Settings) -> ClientCredentialsTokenProvider:
    """The process's provider for these credentials: every client shares its cached token."""
    return _shared(credentials_of(settings))
