"""Settings -> aiokafka clients: every consumer, producer and admin client is built here."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import structlog
from aiokafka import AIOKafkaClient, AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError
from aiokafka.helpers import create_ssl_context

from processor.runtime.oauth import TokenFetchError, token_provider
from schemas.settings import Settings


def connection_kwargs(settings: Settings) -> dict[str, Any]:
    """Bootstrap servers, request timeout and security (SASL PLAIN/SCRAM/OAUTHBEARER, TLS
    with CA and client certificate): what every client takes, the admin client included."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": settings.client_id,
        "security_protocol": settings.security_protocol,
        "request_timeout_ms": settings.request_timeout_ms,
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        kwargs["ssl_context"] = create_ssl_context(
            cafile=settings.ssl_cafile or None,
            certfile=settings.ssl_certfile or None,
            keyfile=settings.ssl_keyfile or None,
        )
    if settings.security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = settings.sasl_mechanism
        if settings.sasl_mechanism == "OAUTHBEARER":
            kwargs["sasl_oauth_token_provider"] = token_provider(settings)
        else:
            kwargs["sasl_plain_username"] = settings.sasl_username
            kwargs["sasl_plain_password"] = settings.sasl_password
    return kwargs


def make_consumer(settings: Settings, *, group_id: str | None, **overrides: Any) -> Any:
    kwargs: dict[str, Any] = {
        **connection_kwargs(settings),
        "group_id": group_id,
        # Offsets are committed by the delivery only after outputs are acknowledged.
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": settings.session_timeout_ms,
        "heartbeat_interval_ms": settings.heartbeat_interval_ms,
        "max_poll_interval_ms": max(300_000, settings.session_timeout_ms * 3),
        "max_partition_fetch_bytes": settings.max_partition_fetch_bytes,
        "fetch_max_bytes": settings.fetch_max_bytes,
        "fetch_min_bytes": settings.fetch_min_bytes,
        "fetch_max_wait_ms": settings.fetch_max_wait_ms,
        # Fetch from a replica in our rack (zone) when the brokers allow it: no cross-zone
        # traffic, which clouds bill.
        "client_rack": settings.client_rack or None,
        # Exactly-once: never process what an aborted transaction wrote upstream.
        "isolation_level": (
            "read_committed" if settings.guarantee == "exactly-once" else "read_uncommitted"
        ),
    }
    kwargs.update(overrides)
    return AIOKafkaConsumer(**kwargs)


def make_producer(settings: Settings, **overrides: Any) -> Any:
    kwargs: dict[str, Any] = {
        **connection_kwargs(settings),
        # Every in-sync replica must have an output before its input offset is committed.
        "acks": "all",
        # Dead letters carry bodies up to Meta's 3 MB limit plus headers.
        "max_request_size": 5 * 1024 * 1024,
        "max_batch_size": settings.batch_size,
        "linger_ms": settings.linger_ms,
        "compression_type": compression(settings),
    }
    kwargs.update(overrides)
    return AIOKafkaProducer(**kwargs)


def compression(settings: Settings) -> str | None:
    """aiokafka's name for the codec: None for no compression."""
    return None if settings.compression_type == "none" else settings.compression_type


def make_admin(settings: Settings) -> Any:
    return AIOKafkaAdminClient(**connection_kwargs(settings))


log = structlog.get_logger("processor.clients")
#: Backoff between attempts to reach a broker at start-up: doubling, capped.
FIRST_RETRY_S, MAX_RETRY_S = 0.5, 8.0


async def wait_for_broker(
    settings: Settings, on_attempt: Callable[[], None] = lambda: None
) -> None:
    """Return once the bootstrap servers answer; retry with capped exponential backoff for
    `connect_timeout_s` (a broker still starting: on Kubernetes, Kafka and the worker start
    together), one log line per attempt. Then raise `KafkaConnectionError`.

    aiokafka logs each failed connection itself at error level; those lines are held back
    here, where ours says the same once per attempt.
    """
    deadline = time.monotonic() + settings.connect_timeout_s
    delay, attempt = FIRST_RETRY_S, 1
    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        while True:
            on_attempt()
            client = AIOKafkaClient(**connection_kwargs(settings))
            try:
                if settings.sasl_mechanism == "OAUTHBEARER":
                    # First the token on its own: a wrong secret is named as such, not as
                    # a broker that does not answer.
                    await token_provider(settings).token()
                await client.bootstrap()
            except KafkaConnectionError as exc:
                left = deadline - time.monotonic()
                token_failed = isinstance(exc, TokenFetchError)
                if token_failed and not exc.retriable:
                    raise
                if left <= 0:
                    if token_failed:
                        raise
                    raise KafkaConnectionError(
                        f"no answer in {settings.connect_timeout_s:g} s ({attempt} attempts)"
                    ) from None
                log.warning(
                    "oauth token endpoint not reachable yet, retrying"
                    if token_failed
                    else "broker not reachable yet, retrying",
                    bootstrap_servers=settings.bootstrap_servers,
                    attempt=attempt,
                    retry_in_s=round(min(delay, left), 1),
                )
                await asyncio.sleep(min(delay, left))
                delay, attempt = min(delay * 2, MAX_RETRY_S), attempt + 1
            else:
                return
            finally:
                await client.close()
    finally:
        quiet.setLevel(level)
