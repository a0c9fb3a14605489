"""Settings -> aiokafka keyword arguments, the same for consumer, producer and admin client."""

from __future__ import annotations

from typing import Any

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
