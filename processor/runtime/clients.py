"""Settings -> aiokafka clients: every consumer, producer and admin client is built here."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.helpers import create_ssl_context

from schemas.settings import Settings


def connection_kwargs(settings: Settings) -> dict[str, Any]:
    """Bootstrap servers and security (SASL PLAIN/SCRAM, TLS with CA and client certificate)."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": settings.client_id,
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        kwargs["ssl_context"] = create_ssl_context(
            cafile=settings.ssl_cafile or None,
            certfile=settings.ssl_certfile or None,
            keyfile=settings.ssl_keyfile or None,
        )
    if settings.security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = settings.sasl_mechanism
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
        # A 3 MB webhook must fit; Kafka returns an oversized first batch anyway.
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
        "fetch_max_bytes": 64 * 1024 * 1024,
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
        "max_batch_size": 512 * 1024,
        "linger_ms": 0,
    }
    kwargs.update(overrides)
    return AIOKafkaProducer(**kwargs)


def make_admin(settings: Settings) -> Any:
    return AIOKafkaAdminClient(**connection_kwargs(settings))
