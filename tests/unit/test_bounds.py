"""Replay ranges: clipping fetched records to the end offsets, end time and start time."""

from __future__ import annotations

from dataclasses import dataclass, field

import click
import pytest
from aiokafka.structs import TopicPartition

from processor.cli.replay import parse_start
from processor.runtime.bounds import ReplayBounds

TP = TopicPartition("raw", 0)


@dataclass
class Message:
    offset: int
    timestamp: int = 0


@dataclass
class Consumer:
    paused: set[TopicPartition] = field(default_factory=set)
    positions: dict[TopicPartition, int] = field(default_factory=dict)

    def pause(self, *tps: TopicPartition) -> None:
        self.paused.update(tps)

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]


def bounds(**kwargs: object) -> ReplayBounds:
    b = ReplayBounds("raw", **kwargs)  # type: ignore[arg-type]
    b.starts, b.ends = {TP: 0}, {TP: 10}
    return b


def test_records_past_the_end_are_dropped_and_the_partition_paused() -> None:
    consumer, b = Consumer(), bounds()
    kept, next_offset = b.clip(consumer, TP, [Message(o) for o in range(8, 14)])
    assert [m.offset for m in kept] == [8, 9]
    assert next_offset == 10
    assert b.finished()
    assert consumer.paused == {TP}


def test_a_partition_ends_at_its_first_record_at_or_after_the_end_time() -> None:
    consumer, b = Consumer(), bounds(to_ms=1000)
    kept, next_offset = b.clip(consumer, TP, [Message(0, 10), Message(1, 999), Message(2, 1000)])
    assert [m.offset for m in kept] == [0, 1]
    assert next_offset == 2
    assert b.finished()


def test_records_older_than_the_start_time_are_skipped_but_committed_past() -> None:
    consumer, b = Consumer(), bounds()
    b.from_ms = 500
    kept, next_offset = b.clip(consumer, TP, [Message(0, 100), Message(1, 600)])
    assert [m.offset for m in kept] == [1]
    assert next_offset == 2
    assert not b.finished()


def test_progress_counts_records_in_the_range() -> None:
    b = bounds()
    assert b.progress({TP: 4}) == (4, 10)
    assert b.progress({TP: 99}) == (10, 10)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("earliest", "earliest"), ("0:5,2:7", {0: 5, 2: 7})],
)
def test_parse_start(text: str, expected: object) -> None:
    assert parse_start(text) == expected


def test_parse_start_time_needs_a_zone() -> None:
    assert parse_start("2026-06-01T00:00:00Z").year == 2026  # type: ignore[union-attr]
    with pytest.raises(click.BadParameter):
        parse_start("2026-06-01T00:00:00")
    with pytest.raises(click.BadParameter):
        parse_start("0:x")


async def test_a_range_ending_on_a_transaction_marker_ends_by_position() -> None:
    """Offset 9 is a commit marker: no record to clip, the position says the range is read."""
    consumer, b = Consumer(), bounds()
    _, next_offset = b.clip(consumer, TP, [Message(o) for o in range(9)])
    assert next_offset == 9
    assert not b.finished()
    consumer.positions[TP] = 9
    await b.reached(consumer)
    assert not b.finished()
    consumer.positions[TP] = 10
    await b.reached(consumer)
    assert b.finished()
    assert consumer.paused == {TP}
