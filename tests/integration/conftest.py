"""Real brokers for the integration suite, and factories over them.

Every test that takes the `broker` fixture (or `kafka`, built on it) runs on each broker of
the session (tests/brokers.py): the reference broker (testcontainers, else a local Apache
Kafka) AND the embedded Tansu, the first broker every user meets. A test that needs a
capability a broker lacks declares it with `@pytest.mark.requires("compaction")` and is
skipped there with the reason printed.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from processor.devkit.brokers.base import RunningBroker
from processor.devkit.generate import demo_registry_toml
from processor.runtime.topics import TopicSpec, ensure_topics, topic_specs
from processor.settings import load_settings
from schemas.settings import Settings
from tests.brokers import session_broker, session_brokers

FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.fixture(scope="session", params=session_brokers())
def broker(request: pytest.FixtureRequest) -> RunningBroker:
    return session_broker(request.param)


@pytest.fixture(autouse=True)
def _capabilities(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("requires")
    if marker is None or "broker" not in request.fixturenames:
        return
    running: RunningBroker = request.getfixturevalue("broker")
    missing = [name for name in marker.args if not running.has(name)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}; {running.kind} {running.version} lacks it")


@dataclass
class KafkaEnv:
    """Unique topics and group per test, over the session's broker."""

    broker: RunningBroker
    settings: Settings

    async def create_topics(self, partitions: int = 3) -> None:
        specs = [
            TopicSpec(spec.name, partitions if spec.partitions > 1 else 1, spec.configs)
            for spec in topic_specs(self.settings)
        ]
        await ensure_topics(self.settings, specs)

    async def produce(
        self, records: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]
    ) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.broker.bootstrap_servers,
            max_request_size=5 * 1024 * 1024,
            linger_ms=5,
        )
        await producer.start()
        try:
            futures = [
                await producer.send(self.settings.raw_topic, value, key=key, headers=headers)
                for key, value, headers in records
            ]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    async def read(
        self,
        topic: str,
        expected: int,
        timeout_s: float = 30.0,
        isolation_level: str = "read_uncommitted",
    ) -> list[Any]:
        """Every record of `topic` from the start, once `expected` arrived or `timeout_s` passed."""
        consumer = AIOKafkaConsumer(
            topic,
            isolation_level=isolation_level,
            bootstrap_servers=self.broker.bootstrap_servers,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        await consumer.start()
        records: list[Any] = []
        try:
            deadline = asyncio.get_running_loop().time() + timeout_s
            while len(records) < expected and asyncio.get_running_loop().time() < deadline:
                batch = await consumer.getmany(timeout_ms=300)
                for messages in batch.values():
                    records.extend(messages)
            # A little longer, to catch outputs beyond what was expected (duplicates, strays).
            for _ in range(2):
                batch = await consumer.getmany(timeout_ms=300)
                for messages in batch.values():
                    records.extend(messages)
        finally:
            await consumer.stop()
        return records

    def env(self) -> dict[str, str]:
        """Environment for a worker subprocess with these settings."""
        s = self.settings
        return {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": s.bootstrap_servers,
            "BSUID_RAW_TOPIC": s.raw_topic,
            "BSUID_IDENTITY_TOPIC": s.identity_topic,
            "BSUID_DROPPED_TOPIC": s.dropped_topic,
            "BSUID_DLQ_TOPIC": s.dlq_topic,
            "BSUID_CONTROL_TOPIC": s.control_topic,
            "BSUID_GROUP_ID": s.group_id,
            "BSUID_NUMBERS": s.numbers,
            "BSUID_SESSION_TIMEOUT_MS": str(s.session_timeout_ms),
            "BSUID_HEARTBEAT_INTERVAL_MS": str(s.heartbeat_interval_ms),
            "BSUID_HTTP_PORT": "0",
            "BSUID_LOG_FORMAT": "json",
        }


@pytest.fixture
async def kafka(broker: RunningBroker) -> KafkaEnv:
    run = uuid.uuid4().hex[:8]
    settings = load_settings(
        {
            "bootstrap_servers": broker.bootstrap_servers,
            "raw_topic": f"raw.{run}",
            "identity_topic": f"identity.{run}",
            "dropped_topic": f"dropped.{run}",
            "dlq_topic": f"dlq.{run}",
            "control_topic": f"control.{run}",
            "group_id": f"group.{run}",
            "numbers": str(FIXTURES / "numbers.toml"),
            # Short sessions: Tansu holds a join for half the session timeout; Apache Kafka
            # refuses sessions under its group.min.session.timeout.ms (6 s by default).
            "session_timeout_ms": 3000 if broker.kind == "tansu" else 6000,
            "heartbeat_interval_ms": 500,
            "http_port": 0,
            "shutdown_timeout_s": 20,
        },
        environ={},
    )
    env = KafkaEnv(broker, settings)
    await env.create_topics()
    return env


@pytest.fixture
def generated_env(kafka: KafkaEnv, tmp_path: Path) -> KafkaEnv:
    """`kafka` with the registry of `processor.devkit.generate`'s traffic."""
    numbers = tmp_path / "numbers.toml"
    numbers.write_text(demo_registry_toml())
    return KafkaEnv(kafka.broker, msgspec.structs.replace(kafka.settings, numbers=str(numbers)))
