"""The range a replay reads: start offsets, end offsets as of its start, an optional end time.

End offsets are the high watermarks carried by fetch responses (right on Apache Kafka and on
Tansu, whose ListOffsets "latest" is off by a batch). Start times use `offsets_for_times` as a
lower bound only, then skip records older than the start by their own timestamps: on Tansu
that call answers by broker time, which is never earlier than a record's own time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka.structs import TopicPartition

from processor.runtime.aiokafka_private import stop_consumer
from processor.runtime.clients import make_consumer
from processor.runtime.reader import assign_all
from schemas.settings import Settings

Start = str | datetime | dict[int, int]  # "earliest", a time, or explicit offsets


async def high_watermarks(
    settings: Settings, topic: str, partitions: list[TopicPartition] | None = None
) -> dict[TopicPartition, int]:
    """The end as of now of `partitions` (default: all) of `topic`, from a throwaway
    consumer's first fetch."""
    consumer = make_consumer(settings, group_id=None, max_partition_fetch_bytes=1024)
    await consumer.start()
    try:
        tps = await assign_all(consumer, topic) if partitions is None else partitions
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = asyncio.get_running_loop().time() + 30
        while any(consumer.highwater(tp) is None for tp in tps):
            await consumer.getmany(timeout_ms=200, max_records=1)
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("no fetch response carried the high watermarks in 30 s")
        return {tp: consumer.highwater(tp) for tp in tps}
    finally:
        await stop_consumer(consumer)


@dataclass
class ReplayBounds:
    topic: str
    start: Start = "earliest"
    #: Stop each partition at its first record at or after this time (unix ms).
    to_ms: int | None = None
    #: Ends decided earlier (a resumed replay keeps the end of its first run).
    ends: dict[TopicPartition, int] = field(default_factory=dict)
    starts: dict[TopicPartition, int] = field(default_factory=dict)
    done: set[TopicPartition] = field(default_factory=set)
    from_ms: int | None = None
    #: Start from the group's commits even though this run commits nothing (a dry run shows
    #: what the next real run would do).
    peek_commits: bool = False

    @property
    def partitions(self) -> set[TopicPartition]:
        return set(self.starts)

    async def begin(self, consumer: Any, settings: Settings, *, resume: bool) -> None:
        """Assign the partitions and seek each to where this replay starts (or resumes)."""
        tps = await assign_all(consumer, self.topic)
        if isinstance(self.start, dict):
            tps = [tp for tp in tps if tp.partition in self.start]
            consumer.assign(tps)
        if not self.ends:
            self.ends = await high_watermarks(settings, self.topic, tps)
        self.starts = await self._start_offsets(consumer, tps)
        for tp in tps:
            position = self.starts[tp]
            if resume:
                committed = await consumer.committed(tp)
                if committed is not None and committed > position:
                    position = committed
            consumer.seek(tp, position)
            if position >= self.ends[tp]:
                self.done.add(tp)
        if self.done:
            consumer.pause(*self.done)

    async def _start_offsets(
        self, consumer: Any, tps: list[TopicPartition]
    ) -> dict[TopicPartition, int]:
        beginnings = await consumer.beginning_offsets(tps)
        if self.start == "earliest":
            return dict(beginnings)
        if isinstance(self.start, dict):
            return {tp: max(self.start[tp.partition], beginnings[tp]) for tp in tps}
        assert isinstance(self.start, datetime)
        self.from_ms = int(self.start.timestamp() * 1000)
        # Bounded: offsets_for_times can hang on a partition the broker does not know.
        async with asyncio.timeout(30):
            found = await consumer.offsets_for_times(dict.fromkeys(tps, self.from_ms))
        return {tp: found[tp].offset if found.get(tp) is not None else self.ends[tp] for tp in tps}

    def clip(
        self, consumer: Any, tp: TopicPartition, messages: list[Any]
    ) -> tuple[list[Any], int | None]:
        """(messages inside the range, next offset to commit or None); marks (and pauses) a
        partition that reached its end."""
        end = self.ends[tp]
        kept = []
        next_offset = None
        for message in messages:
            past_time = self.to_ms is not None and message.timestamp >= self.to_ms
            if message.offset >= end or past_time:
                self._finish(consumer, tp)
                break
            next_offset = message.offset + 1
            if self.from_ms is None or message.timestamp >= self.from_ms:
                kept.append(message)
        if next_offset is not None and next_offset >= end:
            self._finish(consumer, tp)
        return kept, next_offset

    def _finish(self, consumer: Any, tp: TopicPartition) -> None:
        if tp not in self.done:
            self.done.add(tp)
            consumer.pause(tp)

    async def reached(self, consumer: Any) -> None:
        """Mark partitions whose position reached their end without a record there to clip:
        on Apache Kafka a transaction's commit marker can be a range's last offset, and a
        read_committed fetch returns no record for it."""
        for tp in self.partitions - self.done:
            if await consumer.position(tp) >= self.ends[tp]:
                self._finish(consumer, tp)

    def finished(self) -> bool:
        return self.done >= self.partitions

    def progress(self, consumer_positions: dict[TopicPartition, int]) -> tuple[int, int]:
        """(records read, records in the range) for the progress bar."""
        total = sum(max(0, self.ends[tp] - self.starts[tp]) for tp in self.starts)
        read = sum(
            max(
                0, min(consumer_positions.get(tp, self.starts[tp]), self.ends[tp]) - self.starts[tp]
            )
            for tp in self.starts
        )
        return read, total
