"""Which input offsets may be committed: only those whose every output the broker acknowledged.

Batches are kept in the order they were read. The head batch becomes committable once all its
delivery futures succeeded; a later batch never overtakes an earlier one, so a committed
offset always means "everything before it is published" (docs/delivery.md).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import TopicPartition

log = structlog.get_logger("processor.runtime.checkpoint")

#: Commits are batched: at most one per interval, unless forced (shutdown, revocation).
COMMIT_INTERVAL_S = 0.2
#: aiokafka retries a commit forever on retriable errors (a stalled broker, a topic that is
#: gone): past this the loop goes on, so probes and readiness still tell the truth.
COMMIT_TIMEOUT_S = 5.0


class DeliveryError(Exception):
    """The broker refused or never acknowledged an output; `retriable` says if a rewind helps."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"output not delivered: {cause!r}")
        self.cause = cause
        self.retriable = bool(getattr(cause, "retriable", False)) or isinstance(
            cause, asyncio.TimeoutError
        )


@dataclass
class InFlightBatch:
    #: Next offset to commit per input partition once this batch is delivered.
    offsets: dict[TopicPartition, int]
    futures: list[asyncio.Future[Any]]
    records: int
    bytes: int

    def done(self) -> bool:
        return all(future.done() for future in self.futures)

    def failure(self) -> BaseException | None:
        for future in self.futures:
            if future.cancelled():
                return asyncio.CancelledError("delivery cancelled")
            error = future.exception()
            if error is not None:
                return error
        return None


@dataclass
class Checkpoint:
    in_flight: deque[InFlightBatch] = field(default_factory=deque)
    committable: dict[TopicPartition, int] = field(default_factory=dict)
    #: Next offset after the last acknowledged input, per partition (committed or not).
    acked: dict[TopicPartition, int] = field(default_factory=dict)
    records: int = 0
    bytes: int = 0
    last_commit: float = 0.0

    def add(self, batch: InFlightBatch) -> None:
        self.in_flight.append(batch)
        self.records += batch.records
        self.bytes += batch.bytes

    def collect(self) -> None:
        """Move finished head batches to `committable`; raise if one of them failed."""
        while self.in_flight and self.in_flight[0].done():
            failure = self.in_flight[0].failure()
            if failure is not None:
                raise DeliveryError(failure)
            batch = self.in_flight.popleft()
            self.records -= batch.records
            self.bytes -= batch.bytes
            self.committable.update(batch.offsets)
            self.acked.update(batch.offsets)

    async def wait_oldest(self) -> None:
        if self.in_flight:
            await asyncio.wait(self.in_flight[0].futures)

    async def settle(self, limit_s: float) -> bool:
        """Wait until each in-flight delivery has an outcome or `limit_s` passed: all did?"""
        futures = [future for batch in self.in_flight for future in batch.futures]
        if not futures:
            return True
        _done, pending = await asyncio.wait(futures, timeout=limit_s)
        return not pending

    def due(self, force: bool = False) -> dict[TopicPartition, int]:
        """What to commit now: the committable offsets, once per COMMIT_INTERVAL_S or forced."""
        now = time.monotonic()
        if not self.committable or not (force or now - self.last_commit >= COMMIT_INTERVAL_S):
            return {}
        self.last_commit = now
        return self.take()

    def take(self, partitions: set[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """Offsets to commit now (for `partitions` only, when given)."""
        if partitions is None:
            offsets, self.committable = self.committable, {}
            return offsets
        offsets = {tp: o for tp, o in self.committable.items() if tp in partitions}
        for tp in offsets:
            del self.committable[tp]
        return offsets

    def clear(self) -> None:
        """Forget everything in flight: after a rewind those inputs are read again."""
        for batch in self.in_flight:
            for future in batch.futures:
                # Their outcome no longer matters: no "exception was never retrieved" noise.
                future.add_done_callback(_ignore_outcome)
        self.in_flight.clear()
        self.records = self.bytes = 0


async def commit_offsets(
    consumer: Any, offsets: dict[TopicPartition, int], checkpoint: Checkpoint
) -> BaseException | None:
    """Commit `offsets`, bounded in time; None when committed, else why not.

    A rejection after a rebalance is final: the partitions' new owners read those inputs again.
    Any other failure is transient: the offsets go back to `checkpoint` for the next commit
    (which carries them, or newer ones).
    """
    failure: BaseException
    try:
        async with asyncio.timeout(COMMIT_TIMEOUT_S):
            await consumer.commit(offsets)
    except CommitFailedError as rejected:
        log.warning("commit rejected after rebalance", error=str(rejected))
        failure = rejected
    except (KafkaError, TimeoutError) as failed:
        for tp, offset in offsets.items():
            checkpoint.committable.setdefault(tp, offset)
        log.warning("commit failed, will retry", error=repr(failed))
        failure = failed
    else:
        return None
    return failure


def _ignore_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
