"""How a stage's outputs reach Kafka and when its input offsets count as done.

Two deliveries, plugged into the stage loop by composition:
- `AtLeastOnce` (this module): outputs go out with the batch API and an input offset is
  committed only once every output it caused is acknowledged (`Checkpoint`);
- `ExactlyOnce` (`runtime.transactional`): outputs and input offsets in one transaction per
  input partition (Apache Kafka only).

The loop calls them in this order per turn: `commit_due` (partitions whose outputs were lost
come back for a `rewind` under the batch lock), backpressure (`backlogged`, `wait_oldest`),
then per poll `accept` and `outputs` per partition and one `publish`. Rebalances call
`assigned`/`revoked`, shutdown `drain` and `close`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any, Protocol

import structlog
from aiokafka.structs import TopicPartition

from processor.ops.health import StageHealth
from processor.runtime.after import AfterWriter
from processor.runtime.checkpoint import Checkpoint, DeliveryError, InFlightBatch, commit_offsets
from processor.runtime.errors import StageError
from processor.runtime.handler import Handler, Outputs
from processor.runtime.sink import Sink
from schemas.settings import Settings

log = structlog.get_logger("processor.delivery")

#: How long a rewind waits before reading again: the broker refused a moment ago.
REWIND_PAUSE_S = 1.0


class CommitGuard(Protocol):
    """The broker-loss guards' say on commits (`runtime.guards.BrokerWatch`)."""

    def may_commit(self) -> bool: ...
    def committed(self, offsets: dict[TopicPartition, int]) -> None: ...
    def unreachable(self, exc: BaseException) -> None: ...
    async def check(self) -> None: ...


class Delivery(Protocol):
    producer: Any
    #: False without a consumer group (a replay without --group): nothing is committed.
    commits: bool
    #: Next offset after the last acknowledged input, per partition (replay progress).
    acked: dict[TopicPartition, int]
    #: Where a partition without a commit starts again (a replay's range start).
    starts: dict[TopicPartition, int]

    async def start(self) -> None: ...
    async def learn(self, topics: Iterable[str]) -> None: ...
    def accept(self, tp: TopicPartition, messages: list[Any]) -> list[Any]: ...
    def outputs(self, tp: TopicPartition) -> Outputs: ...
    async def publish(
        self, offsets: dict[TopicPartition, int], records: int, size: int
    ) -> None: ...
    def backlogged(self) -> bool: ...
    async def wait_oldest(self) -> None: ...
    def idle(self) -> bool: ...
    def in_flight_records(self) -> int: ...
    async def commit_due(self, force: bool = False) -> set[TopicPartition]: ...
    async def rewind(self, partitions: set[TopicPartition]) -> None: ...
    async def assigned(self, partitions: set[TopicPartition], *, seek: bool) -> None: ...
    async def revoked(self, partitions: set[TopicPartition]) -> bool: ...
    async def drain(self, limit_s: float) -> None: ...
    async def close(self, *, abandon: bool) -> None: ...


class DeliveryBase:
    """What every delivery is built with."""

    def __init__(
        self,
        settings: Settings,
        consumer: Any,
        producer: Any,
        *,
        handler: Handler,
        guard: CommitGuard,
        health: StageHealth,
        commits: bool = True,
    ) -> None:
        self.settings = settings
        self.consumer = consumer
        #: Never transactional: outputs (at-least-once), metadata, probes, control dead letters.
        self.producer = producer
        self.handler = handler
        self.guard = guard
        self.health = health
        #: Without a consumer group (a replay without --group) nothing is committed.
        self.commits = commits
        self.acked: dict[TopicPartition, int] = {}
        self.starts: dict[TopicPartition, int] = {}


class AtLeastOnce(DeliveryBase):
    """Ack-gated commits (docs/delivery.md): a committed offset always means "published before"."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.checkpoint = Checkpoint()
        self.acked = self.checkpoint.acked
        self._outputs = Outputs(Sink(self.producer))
        self._after = AfterWriter(self.producer, self.handler.logged)
        self._assigned: set[TopicPartition] = set()

    async def start(self) -> None:
        await self.producer.start()

    async def learn(self, topics: Iterable[str]) -> None:
        await self._outputs.sink.learn(topics)

    def accept(self, tp: TopicPartition, messages: list[Any]) -> list[Any]:
        del tp
        return messages

    def outputs(self, tp: TopicPartition) -> Outputs:
        del tp
        return self._outputs

    async def publish(self, offsets: dict[TopicPartition, int], records: int, size: int) -> None:
        """Hand the batch's outputs to the producer; the checkpoint commits once acked."""
        futures = [sent.future for sent in await self._outputs.sink.flush()]
        if self._outputs.after:
            futures = [self._after.after(futures, self._outputs.take_after())]
        self.checkpoint.add(InFlightBatch(offsets, futures, records, size))

    def backlogged(self) -> bool:
        checkpoint, settings = self.checkpoint, self.settings
        return (
            checkpoint.records >= settings.max_inflight_records
            or checkpoint.bytes >= settings.max_inflight_bytes
        )

    async def wait_oldest(self) -> None:
        await self.checkpoint.wait_oldest()

    def idle(self) -> bool:
        return not (self.checkpoint.in_flight or self.checkpoint.committable)

    def in_flight_records(self) -> int:
        return self.checkpoint.records

    async def commit_due(self, force: bool = False) -> set[TopicPartition]:
        """Commit what was delivered; the partitions to read again after a failed delivery."""
        try:
            self.checkpoint.collect()
        except DeliveryError as failure:
            self.health.delivery_failures += 1
            if not failure.retriable:
                raise StageError(
                    "an output was refused by the broker and will not be retried: "
                    f"{failure.cause!r}"
                ) from failure.cause
            log.warning("output not delivered, rewinding to the last commit", error=repr(failure))
            return set(self.consumer.assignment())
        await self._commit(self.checkpoint.due(force))
        return set()

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        offsets = {tp: o for tp, o in offsets.items() if tp in self._assigned}
        if not offsets or not self.commits or not self.guard.may_commit():
            return
        failure = await commit_offsets(self.consumer, offsets, self.checkpoint)
        if failure is None:
            self.health.commits += 1
            self.guard.committed(offsets)
            return
        self.health.commit_failures += 1
        if isinstance(failure, TimeoutError):
            # Unanswered (broker stalled) or retried in vain (topic gone): not ready until
            # the broker answers a probe, and a probe tells which.
            self.guard.unreachable(failure)
            await self.guard.check()

    async def _settle(self, limit_s: float) -> tuple[bool, bool]:
        """Wait (bounded) for in-flight batches and commit what was delivered, then forget
        the rest: (every delivery has an outcome, every one succeeded)."""
        settled = delivered = await self.checkpoint.settle(limit_s)
        try:
            self.checkpoint.collect()
        except DeliveryError as failure:
            log.warning("outputs not delivered", error=repr(failure.cause))
            delivered = False
        await self._commit(self.checkpoint.take())
        for batch in self.checkpoint.in_flight:
            for future in batch.futures:
                if isinstance(future, asyncio.Task):
                    # An after-record written past this point could race a new owner. (The
                    # producer's own futures are left alone: cancelling them stops nothing.)
                    future.cancel()
        self._forget()
        return settled, delivered

    def _forget(self) -> None:
        """Forget everything in flight: those inputs are read again (here or elsewhere)."""
        self.checkpoint.committable.clear()
        self.checkpoint.clear()
        self._outputs.discard()
        self._after.reset()

    async def rewind(self, partitions: set[TopicPartition]) -> None:
        """Read everything after the last delivery again: at-least-once without reordering."""
        self.health.rewinds += 1
        await self._settle(self.settings.shutdown_timeout_s)
        await asyncio.sleep(REWIND_PAUSE_S)
        for tp in partitions & self.consumer.assignment():
            position = self.checkpoint.acked.get(tp, self.starts.get(tp))
            if position is None and self.commits:
                position = await self.consumer.committed(tp)
            if position is None:
                await self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, position)

    async def assigned(self, partitions: set[TopicPartition], *, seek: bool) -> None:
        del seek  # aiokafka starts reading at the group's committed offsets
        self._assigned = set(partitions)

    async def revoked(self, partitions: set[TopicPartition]) -> bool:
        """Settle and commit before the partitions move; True when all was delivered."""
        delivered = False
        if self.guard.may_commit():
            _, delivered = await self._settle(min(self.settings.shutdown_timeout_s, 10.0))
        else:
            self._forget()  # membership lost: commit nothing, the next owner reads again
        self._assigned -= partitions
        for tp in partitions:
            self.checkpoint.acked.pop(tp, None)
        return delivered

    async def drain(self, limit_s: float) -> None:
        settled, _ = await self._settle(limit_s)
        if not settled:
            raise StageError(f"outputs still unacknowledged after {limit_s:g} s; not committed")

    async def close(self, *, abandon: bool) -> None:
        if not abandon:
            await self.producer.stop()
            return
        self.checkpoint.clear()  # their outcome no longer matters
        # Outputs still pending go to topics that are gone: do not wait out their timeout.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                await self.producer.stop()
