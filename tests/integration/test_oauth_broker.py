"""SASL/OAUTHBEARER end to end: a real Apache Kafka with an OAUTHBEARER listener, an OAuth
2.0 token endpoint (aiohttp, in this process), and the processor's own clients: the token is
fetched once with the client credentials and every client authenticates with it.

The broker validates tokens with Kafka's built-in unsecured validator (unsigned JWTs: what the
endpoint here issues), so the test needs no identity provider. It starts its own one-node
Kafka (the session's broker has no SASL listener) and runs when the session has Apache Kafka.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from processor.devkit.brokers.apache_kafka import (
    ApacheKafkaCluster,
    KafkaNode,
    ensure_kafka_jars,
    java_and_maven_available,
)
from processor.devkit.brokers.probe import free_port, probe_metadata, wait_for
from processor.runtime.clients import make_consumer, make_producer
from processor.runtime.oauth import token_provider
from processor.runtime.topics import TopicSpec, ensure_topics
from processor.settings import load_settings
from tests.brokers import session_brokers

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not {"kafka", "external", "testcontainers"} & set(session_brokers())
        or not java_and_maven_available(),
        reason="needs a local Apache Kafka (java 17+ and mvn); the session has none",
    ),
]
SECRET = "oauth-9Kd-secret"


@dataclass(eq=False)
class OAuthKafka(ApacheKafkaCluster):
    """One node with a SASL_PLAINTEXT OAUTHBEARER listener beside its plain one."""

    oauth_port: int = 0

    def _properties(self, node: KafkaNode) -> str:
        lines = dict(
            line.split("=", 1) for line in super()._properties(node).splitlines() if "=" in line
        )
        oauth = f"OAUTH://127.0.0.1:{self.oauth_port}"
        lines["listeners"] += f",{oauth}"
        lines["advertised.listeners"] += f",{oauth}"
        lines["listener.security.protocol.map"] += ",OAUTH:SASL_PLAINTEXT"
        lines["sasl.enabled.mechanisms"] = "OAUTHBEARER"
        # No server callback handler: Kafka's unsecured validator (unsigned JWTs with sub, exp).
        lines["listener.name.oauth.oauthbearer.sasl.jaas.config"] = (
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ;"
        )
        return "".join(f"{key}={value}\n" for key, value in lines.items())


@pytest.fixture(scope="module")
def oauth_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("oauth-kafka")
    node = KafkaNode(1, free_port(), free_port(), workdir / "node-1")
    cluster = OAuthKafka({1: node}, workdir, ensure_kafka_jars(), oauth_port=free_port())
    try:
        cluster._format(base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode())
        cluster._launch(node)
        wait_for(
            lambda: cluster._alive() and probe_metadata(node.address).broker_ids == {1},
            120,
            "the OAUTHBEARER Kafka node",
        )
        yield f"127.0.0.1:{cluster.oauth_port}"
    finally:
        cluster.stop()


def unsigned_jwt(subject: str, lifetime_s: int) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(time.time())
    return f"{part({'alg': 'none'})}.{part({'sub': subject, 'iat': now, 'exp': now + lifetime_s})}."


@pytest.fixture
async def token_endpoint() -> AsyncIterator[tuple[str, list[str]]]:
    """Issues a token to `svc-bsuid` / SECRET only; records the Authorization of each call."""
    calls: list[str] = []
    expected = "Basic " + base64.b64encode(f"svc-bsuid:{SECRET}".encode()).decode()

    async def token(request: web.Request) -> web.Response:
        calls.append(request.headers.get("Authorization", ""))
        form = await request.post()
        if request.headers.get("Authorization") != expected or form.get("grant_type") != (
            "client_credentials"
        ):
            return web.json_response({"error": "invalid_client"}, status=401)
        return web.json_response(
            {"access_token": unsigned_jwt("svc-bsuid", 3600), "expires_in": 3600}
        )

    app = web.Application()
    app.router.add_post("/token", token)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/token", calls
    await runner.cleanup()


async def test_clients_authenticate_with_a_client_credentials_token(
    oauth_kafka: str, token_endpoint: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, calls = token_endpoint
    settings = load_settings(
        {
            "bootstrap_servers": oauth_kafka,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "OAUTHBEARER",
            "sasl_oauth_token_url": url,
            "sasl_oauth_client_id": "svc-bsuid",
            "sasl_oauth_client_secret": SECRET,
            "replication_factor": 1,
        },
        environ={},
    )
    topic = f"oauth.{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [TopicSpec(topic, 1, {})])
    producer = make_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"over OAUTHBEARER", key=b"k")
    finally:
        await producer.stop()
    consumer = make_consumer(settings, group_id=None)
    consumer.subscribe([topic])
    await consumer.start()
    try:
        got = await asyncio.wait_for(consumer.getone(), 60)
    finally:
        await consumer.stop()
    assert got.value == b"over OAUTHBEARER"
    # Admin, producer and consumer shared one token: one request to the endpoint.
    assert len(calls) == 1
    assert token_provider(settings).fetches == 1
