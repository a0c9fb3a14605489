"""Look keys up in the compacted links topic (`links lookup`): what a consumer's table holds.

A key lives on the partition the Java partitioner gives it, so only those partitions are read,
from their beginning to their end as of now; the last record of a key wins and a tombstone
means "no current link".
"""

from __future__ import annotations

from aiokafka.structs import TopicPartition

from processor.core.partitioner import partition_for
from processor.runtime.clients import make_consumer
from processor.runtime.reader import assign_all, records_to_end
from schemas.links import LINK_DECODER, Link
from schemas.settings import Settings


async def lookup(settings: Settings, keys: list[str]) -> dict[str, Link | None]:
    consumer = make_consumer(settings, group_id=None, isolation_level="read_committed")
    await consumer.start()
    try:
        count = len(await assign_all(consumer, settings.links_topic))
        wanted = {key.encode(): key for key in keys}
        tps = sorted(
            {TopicPartition(settings.links_topic, partition_for(k, count)) for k in wanted},
            key=lambda tp: tp.partition,
        )
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        found: dict[str, Link | None] = dict.fromkeys(keys)
        async for message in records_to_end(consumer, tps):
            key = wanted.get(message.key)
            if key is not None:
                value = message.value
                found[key] = None if value is None else LINK_DECODER.decode(value)
        return found
    finally:
        await consumer.stop()
