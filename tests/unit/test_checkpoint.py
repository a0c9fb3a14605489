"""Commits: only acknowledged offsets, batched in time, bounded, kept on a transient failure."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import CommitFailedError, KafkaConnectionError
from aiokafka.structs import TopicPartition

from processor.runtime import checkpoint as checkpoint_module
from processor.runtime.checkpoint import Checkpoint, InFlightBatch, commit_offsets

TP = TopicPartition("raw", 0)


class Consumer:
    """Stands in for AIOKafkaConsumer.commit only: what it raises, or how long it hangs."""

    def __init__(self, outcome: BaseException | None = None, hang_s: float = 0.0) -> None:
        self.outcome, self.hang_s = outcome, hang_s
        self.committed: list[dict[TopicPartition, int]] = []

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        await asyncio.sleep(self.hang_s)
        if self.outcome is not None:
            raise self.outcome
        self.committed.append(offsets)


def acked_batch(offset: int) -> InFlightBatch:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return InFlightBatch({TP: offset}, [future], records=1, bytes=10)


async def test_unacknowledged_batches_hold_back_later_ones() -> None:
    checkpoint = Checkpoint()
    pending: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    checkpoint.add(InFlightBatch({TP: 5}, [pending], records=1, bytes=10))
    checkpoint.add(acked_batch(9))
    checkpoint.collect()
    assert checkpoint.due(force=True) == {}
    pending.set_result(None)
    checkpoint.collect()
    assert checkpoint.due(force=True) == {TP: 9}


async def test_commits_are_batched_in_time_unless_forced() -> None:
    checkpoint = Checkpoint()
    checkpoint.add(acked_batch(3))
    checkpoint.collect()
    assert checkpoint.due() == {TP: 3}
    checkpoint.add(acked_batch(4))
    checkpoint.collect()
    assert checkpoint.due() == {}  # within COMMIT_INTERVAL_S of the last one
    assert checkpoint.due(force=True) == {TP: 4}


async def test_a_committed_offset_is_reported() -> None:
    consumer = Consumer()
    assert await commit_offsets(consumer, {TP: 7}, Checkpoint()) is None
    assert consumer.committed == [{TP: 7}]


async def test_a_transient_failure_keeps_the_offsets_for_the_next_commit() -> None:
    checkpoint = Checkpoint()
    checkpoint.committable[TP] = 9  # acknowledged since: the newer offset wins
    failure = await commit_offsets(Consumer(KafkaConnectionError()), {TP: 7}, checkpoint)
    assert isinstance(failure, KafkaConnectionError)
    assert checkpoint.committable == {TP: 9}
    fresh = Checkpoint()
    await commit_offsets(Consumer(KafkaConnectionError()), {TP: 7}, fresh)
    assert fresh.committable == {TP: 7}


async def test_a_rejection_after_a_rebalance_is_final() -> None:
    checkpoint = Checkpoint()
    failure = await commit_offsets(Consumer(CommitFailedError()), {TP: 7}, checkpoint)
    assert isinstance(failure, CommitFailedError)
    assert checkpoint.committable == {}  # the partition's new owner reads these again


async def test_a_commit_that_never_returns_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoint_module, "COMMIT_TIMEOUT_S", 0.05)
    checkpoint = Checkpoint()
    failure = await commit_offsets(Consumer(hang_s=10), {TP: 7}, checkpoint)
    assert isinstance(failure, TimeoutError)
    assert checkpoint.committable == {TP: 7}
