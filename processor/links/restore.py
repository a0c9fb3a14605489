"""Read link state back from the changelog: on assignment, and after a failed delivery.

The changelog partition of a state is the state's partition (as in Kafka Streams). A partition
this worker owned before and kept in memory is read from where its own writes ended (usually
nothing to read); any other from the beginning. Only committed records count
(`read_committed`): a transactional writer's aborted records never become state.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from aiokafka.structs import TopicPartition

from processor.kafka.source import make_consumer
from processor.kafka.topic_reader import assign_all, records_to_end
from processor.links.state import LinkState
from schemas.settings import Settings

log = structlog.get_logger("processor.links.restore")


class ChangelogReader:
    def __init__(self, settings: Settings, topic: str) -> None:
        self.topic = topic
        self._timeout_s = settings.links_restore_timeout_s
        self._consumer: Any = make_consumer(
            settings, group_id=None, isolation_level="read_committed"
        )

    async def start(self) -> None:
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()

    async def partition_count(self, topic: str) -> int:
        """Partitions of `topic` (LookupError when it does not exist)."""
        return len(await assign_all(self._consumer, topic))

    async def restore(
        self, states: dict[int, LinkState], starts: dict[int, int | None]
    ) -> dict[int, int]:
        """Apply each partition's changelog from `starts[p]` (None: the beginning) to its end
        to `states[p]`; return the offset each partition was read to."""
        if not starts:
            return {}
        consumer = self._consumer
        tps = {p: TopicPartition(self.topic, p) for p in starts}
        consumer.assign(list(tps.values()))
        for partition, tp in tps.items():
            start = starts[partition]
            if start is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, start)
        began, records = time.monotonic(), 0
        async for message in records_to_end(consumer, list(tps.values()), self._timeout_s):
            states[message.partition].restore(message.key, message.value)
            records += 1
        ends = {p: await consumer.position(tp) for p, tp in tps.items()}
        log.info(
            "link state restored",
            partitions=sorted(starts),
            from_start=sorted(p for p, start in starts.items() if start is None),
            records=records,
            seconds=round(time.monotonic() - began, 3),
        )
        return ends
