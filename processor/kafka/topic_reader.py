"""Read a whole topic to its end, correctly on Apache Kafka and on Tansu alike.

"The end" is each partition's high watermark as carried by the first fetch response, which
both brokers report right (Tansu's ListOffsets answer for "latest" is off by a batch). Used
for the control topic, `numbers list/set` and replay state.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from aiokafka.structs import TopicPartition

from processor.kafka.source import make_consumer
from schemas.settings import Settings


async def assign_all(consumer: Any, topic: str, timeout_s: float = 10.0) -> list[TopicPartition]:
    """Assign every partition of `topic` (waiting for metadata, bounded)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            return tps
        if asyncio.get_running_loop().time() > deadline:
            raise LookupError(f"topic {topic} does not exist")
        # aiokafka has no public call to refresh metadata for a topic it is not assigned yet.
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)


async def records_to_end(
    consumer: Any, tps: list[TopicPartition], timeout_s: float = 30.0
) -> AsyncIterator[Any]:
    """Records from the current positions to the high watermarks seen at the first fetch."""
    ends: dict[TopicPartition, int] = {}
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        batch = await consumer.getmany(*tps, timeout_ms=200)
        for tp in tps:
            if tp not in ends and consumer.highwater(tp) is not None:
                ends[tp] = consumer.highwater(tp)
        for tp, messages in batch.items():
            for message in messages:
                if message.offset < ends.get(tp, message.offset + 1):
                    yield message
        if len(ends) == len(tps) and await _reached(consumer, ends):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"could not read {tps[0].topic} to its end in {timeout_s:g} s")


async def _reached(consumer: Any, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True


async def partitions_of(settings: Settings, topic: str) -> list[TopicPartition]:
    consumer = make_consumer(settings, group_id=None)
    await consumer.start()
    try:
        return await assign_all(consumer, topic)
    finally:
        await consumer.stop()


async def read_topic(settings: Settings, topic: str) -> list[Any]:
    """Every record of a (small) topic, from its beginning to its end as of now."""
    consumer = make_consumer(settings, group_id=None, isolation_level="read_committed")
    await consumer.start()
    try:
        tps = await assign_all(consumer, topic)
        await consumer.seek_to_beginning(*tps)
        return [message async for message in records_to_end(consumer, tps)]
    finally:
        await consumer.stop()
