"""Read a whole topic to its end, correctly on Apache Kafka and on Tansu alike.

"The end" is each partition's high watermark as carried by the first fetch response, which
both brokers report right (Tansu's ListOffsets answer for "latest" is off by a batch). Used
for the control topic, the changelog, `numbers list/set`, `links lookup` and replay state.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiokafka.structs import TopicPartition

from processor.runtime.aiokafka_private import refresh_metadata, stop_consumer
from processor.runtime.clients import make_admin, make_consumer
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
        await refresh_metadata(consumer)
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


async def read_topic(settings: Settings, topic: str) -> list[Any]:
    """Every record of a (small) topic, from its beginning to its end as of now."""
    consumer = make_consumer(settings, group_id=None, isolation_level="read_committed")
    await consumer.start()
    try:
        tps = await assign_all(consumer, topic)
        await consumer.seek_to_beginning(*tps)
        return [message async for message in records_to_end(consumer, tps)]
    finally:
        await stop_consumer(consumer)


class PartitionReader:
    """A group-less consumer that reads chosen partitions of a topic to their end, from
    given offsets: a stage reading its state back from a changelog. Only committed records
    count (`read_committed`): a transactional writer's aborted records never become state."""

    def __init__(self, settings: Settings, topic: str, timeout_s: float) -> None:
        self.topic = topic
        self._timeout_s = timeout_s
        self._consumer = make_consumer(settings, group_id=None, isolation_level="read_committed")

    async def start(self) -> None:
        await self._consumer.start()

    async def stop(self) -> None:
        await stop_consumer(self._consumer)

    async def partition_count(self, topic: str) -> int:
        """Partitions of `topic` (LookupError when it does not exist)."""
        return len(await assign_all(self._consumer, topic))

    async def read(self, starts: dict[int, int | None], ends: dict[int, int]) -> AsyncIterator[Any]:
        """Records of each partition from `starts[p]` (None: the beginning) to its end; once
        done, `ends[p]` holds the offset each partition was read to."""
        consumer = self._consumer
        tps = {p: TopicPartition(self.topic, p) for p in starts}
        consumer.assign(list(tps.values()))
        for partition, tp in tps.items():
            start = starts[partition]
            if start is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, start)
        async for message in records_to_end(consumer, list(tps.values()), self._timeout_s):
            yield message
        for partition, tp in tps.items():
            ends[partition] = await consumer.position(tp)


#: How long `read_by_group` reads before it says "not known to be read".
GROUP_READ_TIMEOUT_S = 10.0


async def read_by_group(settings: Settings, group: str, topics: Sequence[str]) -> bool:
    """Has `group` committed past every record of `topics` there is now?

    Burst mode's group-wide test for a stage that feeds its own input (links: a member
    writes to repartition partitions another member reads): a member's own partitions being
    drained says nothing of records the others are still routing to it. Reads from the
    group's committed offsets to the end with a throwaway consumer (a transaction's markers
    leave gaps, so "committed == end" could never hold there); any record found means no.
    """
    admin = make_admin(settings)
    consumer = make_consumer(settings, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        tps = [tp for topic in topics for tp in await assign_all(consumer, topic)]
        consumer.assign(tps)
        committed = await admin.list_consumer_group_offsets(group, partitions=tps)
        for tp in tps:
            meta = committed.get(tp)
            if meta is None or meta.offset < 0:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, meta.offset)
        async for _record in records_to_end(consumer, tps, GROUP_READ_TIMEOUT_S):
            return False
    except TimeoutError:
        return False  # an open transaction upstream, or a slow broker: not known to be read
    finally:
        await admin.close()
        await stop_consumer(consumer)
    return True
