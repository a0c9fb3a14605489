"""Burst mode's "drained" test: decided from a fetch response newer than the first empty
poll, never from `end_offsets` (wrong on Tansu) or from a quiet period."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiokafka.structs import TopicPartition

from processor.runtime.source import read_to_end

TP0, TP1 = TopicPartition("raw", 0), TopicPartition("raw", 1)


@dataclass
class Consumer:
    """What a fetch response left: per partition (polled at ms, high watermark, LSO, position)."""

    state: dict[TopicPartition, tuple[int | None, int | None, int | None, int]] = field(
        default_factory=dict
    )

    def last_poll_timestamp(self, tp: TopicPartition) -> int | None:
        return self.state[tp][0]

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.state[tp][1]

    def last_stable_offset(self, tp: TopicPartition) -> int | None:
        return self.state[tp][2]

    async def position(self, tp: TopicPartition) -> int:
        return self.state[tp][3]

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        raise AssertionError("end_offsets is wrong on Tansu: never asked")


async def test_drained_when_every_partition_is_at_a_fresh_high_watermark() -> None:
    consumer = Consumer({TP0: (1_000, 50, 50, 50), TP1: (1_001, 0, 0, 0)})
    assert await read_to_end(consumer, [TP0, TP1], since_ms=900)


async def test_a_response_older_than_the_empty_poll_decides_nothing() -> None:
    # Records produced after that response would not be in its high watermark.
    consumer = Consumer({TP0: (800, 50, 50, 50), TP1: (1_000, 0, 0, 0)})
    assert not await read_to_end(consumer, [TP0, TP1], since_ms=900)


async def test_a_partition_never_fetched_is_not_drained() -> None:
    consumer = Consumer({TP0: (None, None, None, 0)})
    assert not await read_to_end(consumer, [TP0], since_ms=900)


async def test_records_left_below_the_high_watermark() -> None:
    consumer = Consumer({TP0: (1_000, 60, 60, 50)})
    assert not await read_to_end(consumer, [TP0], since_ms=900)


async def test_read_committed_ends_at_the_last_stable_offset() -> None:
    # An open transaction upstream: its records are not readable yet, the rest is read.
    consumer = Consumer({TP0: (1_000, 60, 50, 50)})
    assert await read_to_end(consumer, [TP0], since_ms=900, committed=True)
    assert not await read_to_end(consumer, [TP0], since_ms=900)
