"""SASL/OAUTHBEARER token provider against a real HTTP token endpoint (aiohttp, in-process)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiokafka import AIOKafkaProducer
from aiokafka.abc import AbstractTokenProvider

from processor.runtime.clients import connection_kwargs, wait_for_broker
from processor.runtime.oauth import (
    ClientCredentials,
    ClientCredentialsTokenProvider,
    TokenFetchError,
    token_provider,
)
from processor.settings import SettingsError, load_settings

SECRET = "s3cr3t/with+chars"


@dataclass
class Endpoint:
    """A token endpoint: answers what `answer` says and records each request."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    answer: Callable[[int], web.Response] = lambda n: web.json_response(
        {"access_token": f"token-{n}", "token_type": "Bearer", "expires_in": 100}
    )


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    state = Endpoint()

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        state.requests.append(
            {"authorization": request.headers.get("Authorization", ""), **dict(form)}
        )
        return state.answer(len(state.requests))

    app = web.Application()
    app.router.add_post("/oauth2/token", token)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}/oauth2/token"
    yield state
    await runner.cleanup()


def credentials(url: str, **extra: Any) -> ClientCredentials:
    return ClientCredentials(url, "svc-bsuid", SECRET, **extra)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_fetches_with_basic_auth_and_scope(endpoint: Endpoint) -> None:
    provider = ClientCredentialsTokenProvider(credentials(endpoint.url, scope="kafka.write"))
    assert isinstance(provider, AbstractTokenProvider)
    assert await provider.token() == "token-1"
    (request,) = endpoint.requests
    assert request["grant_type"] == "client_credentials"
    assert request["scope"] == "kafka.write"
    scheme, _, encoded = request["authorization"].partition(" ")
    assert scheme == "Basic"
    # RFC 6749 2.3.1: form-encoded, then Basic.
    assert base64.b64decode(encoded).decode() == "svc-bsuid:s3cr3t%2Fwith%2Bchars"


async def test_the_token_is_cached_until_80_percent_of_its_lifetime(endpoint: Endpoint) -> None:
    clock = Clock()
    provider = ClientCredentialsTokenProvider(credentials(endpoint.url), clock)
    assert [await provider.token() for _ in range(5)] == ["token-1"] * 5
    clock.now += 79
    assert await provider.token() == "token-1"
    clock.now += 2  # 81 s of a 100 s token
    assert await provider.token() == "token-2"
    assert len(endpoint.requests) == 2


async def test_a_failed_refresh_keeps_a_token_that_is_still_valid(endpoint: Endpoint) -> None:
    clock = Clock()
    provider = ClientCredentialsTokenProvider(credentials(endpoint.url), clock)
    assert await provider.token() == "token-1"
    endpoint.answer = lambda n: web.json_response({"error": "temporarily_unavailable"}, status=503)
    clock.now += 90
    assert await provider.token() == "token-1"  # refresh failed; 10 s of validity left
    clock.now += 20
    with pytest.raises(TokenFetchError) as failed:
        await provider.token()
    assert failed.value.retriable


async def test_lifetime_from_the_jwt_when_expires_in_is_missing(endpoint: Endpoint) -> None:
    claims = base64.urlsafe_b64encode(json.dumps({"exp": time.time() + 1000}).encode()).decode()
    jwt = f"eyJhbGciOiJub25lIn0.{claims.rstrip('=')}."
    endpoint.answer = lambda n: web.json_response({"access_token": jwt})
    clock = Clock()
    provider = ClientCredentialsTokenProvider(credentials(endpoint.url), clock)
    await provider.token()
    clock.now += 700
    await provider.token()
    assert len(endpoint.requests) == 1  # about 1000 s of lifetime: no refresh at 700 s


async def test_rejected_credentials_name_the_setting_and_never_the_secret(
    endpoint: Endpoint,
) -> None:
    endpoint.answer = lambda n: web.json_response(
        {"error": "invalid_client", "error_description": f"bad secret {SECRET}"}, status=401
    )
    provider = ClientCredentialsTokenProvider(credentials(endpoint.url))
    with pytest.raises(TokenFetchError) as failed:
        await provider.token()
    message = str(failed.value)
    assert message.startswith("setting sasl_oauth_token_url:")
    assert "HTTP 401: invalid_client" in message
    assert SECRET not in message
    assert not failed.value.retriable
    assert SECRET not in repr(provider) + repr(provider.credentials)


async def test_an_endpoint_that_is_not_there_is_retriable() -> None:
    provider = ClientCredentialsTokenProvider(credentials("http://127.0.0.1:9/token"))
    with pytest.raises(TokenFetchError, match="no answer from the token endpoint") as failed:
        await provider.token()
    assert failed.value.retriable


async def test_an_answer_without_access_token_is_refused(endpoint: Endpoint) -> None:
    endpoint.answer = lambda n: web.json_response({"token_type": "Bearer"})
    with pytest.raises(TokenFetchError, match="did not answer with an access_token"):
        await ClientCredentialsTokenProvider(credentials(endpoint.url)).token()


def oauth_settings(url: str, **extra: str) -> Any:
    return load_settings(
        {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "OAUTHBEARER",
            "sasl_oauth_token_url": url,
            "sasl_oauth_client_id": "svc-bsuid",
            "sasl_oauth_client_secret": SECRET,
            **extra,
        },
        environ={},
    )


async def test_every_client_of_the_process_shares_one_provider() -> None:
    settings = oauth_settings(
        "https://idp.example.com/oauth2/token",
        sasl_oauth_extensions="logicalCluster=lkc-1,identityPoolId=pool-2",
    )
    kwargs = connection_kwargs(settings)
    assert kwargs["sasl_mechanism"] == "OAUTHBEARER"
    assert kwargs["sasl_oauth_token_provider"] is token_provider(settings)
    assert "sasl_plain_password" not in kwargs
    assert kwargs["sasl_oauth_token_provider"].extensions() == {
        "logicalCluster": "lkc-1",
        "identityPoolId": "pool-2",
    }
    producer = AIOKafkaProducer(**kwargs)  # aiokafka accepts it (checks the provider's type)
    await producer.stop()


async def test_start_up_names_the_token_endpoint_not_the_broker(endpoint: Endpoint) -> None:
    endpoint.answer = lambda n: web.json_response({"error": "invalid_client"}, status=401)
    settings = oauth_settings(endpoint.url, bootstrap_servers="127.0.0.1:9", connect_timeout_s="5")
    with pytest.raises(TokenFetchError, match=r"sasl_oauth_token_url: .* HTTP 401"):
        await wait_for_broker(settings)
    assert len(endpoint.requests) == 1  # a 401 is not retried


@pytest.mark.parametrize(
    ("values", "setting"),
    [
        ({"sasl_oauth_token_url": ""}, "sasl_oauth_token_url"),
        ({"sasl_oauth_token_url": "idp.example.com/token"}, "sasl_oauth_token_url"),
        ({"sasl_oauth_client_secret": ""}, "sasl_oauth_client_secret"),
        ({"sasl_oauth_extensions": "logicalCluster"}, "sasl_oauth_extensions"),
        ({"sasl_oauth_extensions": "auth=x"}, "sasl_oauth_extensions"),
        ({"security_protocol": "SSL"}, "security_protocol"),
    ],
)
def test_bad_oauth_settings_name_the_setting(values: dict[str, str], setting: str) -> None:
    with pytest.raises(SettingsError, match=f"^setting {setting}:"):
        oauth_settings(values.pop("sasl_oauth_token_url", "https://idp/token"), **values)


def test_a_command_that_cannot_get_a_token_says_so_in_one_line_without_the_secret() -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("KAFKA_", "BSUID_", "META_", "CONNECTLY_"))
    } | {
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "OAUTHBEARER",
        "KAFKA_SASL_OAUTH_TOKEN_URL": "http://127.0.0.1:9/oauth2/token",
        "KAFKA_SASL_OAUTH_CLIENT_ID": "svc-bsuid",
        "KAFKA_SASL_OAUTH_CLIENT_SECRET": SECRET,
        "BSUID_CONNECT_TIMEOUT_S": "1",
        "BSUID_LOG_LEVEL": "debug",
        "BSUID_LOG_FORMAT": "json",
    }
    done = subprocess.run(
        [sys.executable, "-m", "processor", "topics", "ensure"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, done.stderr
    assert "setting sasl_oauth_token_url: no answer from the token endpoint" in errors[0]
    assert SECRET not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
