"""The consumer group's lag as Kafka sees it: what autoscalers and alerts read.

`BrokerWatch` keeps the lag of the partitions this member holds, from its own memory. This
is the other view: for every partition of the stage's input topics (the whole group, not
only this member's share), the end of the partition minus the offset the group committed,
read from the broker on a timer (a few requests per interval, never per record). Each member
exports every partition, so a dashboard takes the max per partition across members.

The end of a partition: `end_offsets` (ListOffsets), exact on Apache Kafka; on Tansu it is
the newest batch's base offset + 1, short by up to a batch. For partitions this member holds,
the high watermark of the last fetch response is right on both brokers, so the larger of the
two counts. On Tansu a partition held by another member thus reads low by up to a batch here,
and exactly on its owner: the max across members is exact while the owner runs.
A partition the group never committed counts from the partition's beginning (the group
starts there: `auto_offset_reset="earliest"`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import structlog
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from processor.ops.health import StageHealth
from processor.runtime.aiokafka_private import refresh_metadata
from processor.runtime.clients import make_admin
from schemas.settings import Settings

log = structlog.get_logger("processor.group_lag")

#: Between two reads of the group's offsets: a scrape interval's order, cheap for the broker.
INTERVAL_S = 15.0
#: One read gives up after this long (a broker that stalls), and the gauge empties.
TIMEOUT_S = 10.0

Lag = dict[tuple[str, str, int], int]


class GroupLag:
    """Reads the group's lag every `interval_s` while the stage runs, into `health.group_lag`."""

    def __init__(
        self,
        settings: Settings,
        consumer: Any,
        topics: Sequence[str],
        health: StageHealth,
        *,
        interval_s: float = INTERVAL_S,
    ) -> None:
        self.group = settings.group_id
        self.consumer = consumer
        self.topics = tuple(topics)
        self.health = health
        self.interval_s = interval_s
        # Exactly-once reads committed records only: its end is the last stable offset.
        self._committed_read = settings.guarantee == "exactly-once"
        self._admin = make_admin(settings)
        self._admin_started = False
        self._failing = False

    async def run(self) -> None:
        """Until cancelled: once the stage runs, read the lag now and every `interval_s`."""
        try:
            while True:
                if self.health.phase == "running":
                    await self._update()
                    await asyncio.sleep(self.interval_s)
                else:
                    await asyncio.sleep(min(self.interval_s, 0.5))
        finally:
            await self.close()

    async def close(self) -> None:
        if self._admin_started:
            self._admin_started = False
            await self._admin.close()

    async def _update(self) -> None:
        try:
            async with asyncio.timeout(TIMEOUT_S):
                lag = await self.read()
        except (KafkaError, TimeoutError, OSError) as exc:
            # No number rather than a stale one; the broker probe turns the stage not ready.
            self.health.group_lag = {}
            if not self._failing:
                log.warning("group lag not read, will retry", group=self.group, error=repr(exc))
            self._failing = True
            return
        if self._failing:
            log.info("group lag read again", group=self.group)
        self._failing = False
        self.health.group_lag = lag
        self.health.group_lag_read_at = time.time()

    async def read(self) -> Lag:
        """Lag per (group, topic, partition), for every partition of the input topics."""
        consumer = self.consumer
        if any(consumer.partitions_for_topic(topic) is None for topic in self.topics):
            # Not subscribed to them (yet): ask the broker, or every partition would be missed.
            await refresh_metadata(consumer)
        tps = [
            TopicPartition(topic, partition)
            for topic in self.topics
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not tps:
            return {}
        if not self._admin_started:
            await self._admin.start()
            self._admin_started = True
        # Tansu answers only for partitions named explicitly: always name them.
        committed = await self._admin.list_consumer_group_offsets(self.group, partitions=tps)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        held = consumer.assignment()
        for tp in tps:
            if tp in held:
                fetched = (
                    consumer.last_stable_offset(tp)
                    if self._committed_read
                    else consumer.highwater(tp)
                )
                if fetched is not None and fetched >= 0:
                    ends[tp] = max(ends.get(tp, 0), fetched)
        bases = {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}
        never = [tp for tp in tps if tp not in bases]
        if never:
            bases |= await consumer.beginning_offsets(never)
        return {
            (self.group, tp.topic, tp.partition): max(0, ends[tp] - bases[tp])
            for tp in tps
            if tp in ends and tp in bases
        }
