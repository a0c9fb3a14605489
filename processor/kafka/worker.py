"""The streaming worker (`run`): consume, run the pure pipeline, publish, commit after acks.

The loop, in order: collect delivered batches (commit what is done), wait when too much is in
flight (backpressure: fetching pauses instead of memory growing), fetch, process and publish
under the batch lock, repeat. A rebalance takes the same lock, so it never sees half a batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import structlog
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import TopicPartition

from processor.core.pipeline import Pipeline
from processor.core.records import InputRecord, ItemError, OutputRecord, Route
from processor.core.route import dead_letter
from processor.kafka.bounds import ReplayBounds
from processor.kafka.checkpoint import Checkpoint, DeliveryError, InFlightBatch
from processor.kafka.control import ControlFollower
from processor.kafka.health import WorkerHealth
from processor.kafka.sink import OutputSink
from processor.kafka.source import RebalanceListener
from schemas.settings import Settings

log = structlog.get_logger("processor.worker")

COMMIT_INTERVAL_S = 0.2
BROKER_PROBE_INTERVAL_S = 5.0


def output_topics(settings: Settings, suffix: str = "") -> dict[Route, str]:
    return {
        "identity": settings.identity_topic + suffix,
        "dropped": settings.dropped_topic + suffix,
        "dlq": settings.dlq_topic + suffix,
    }


class WorkerError(Exception):
    """The worker cannot go on safely; the message says why, in one line."""


class Worker:
    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        consumer: Any,
        producer: Any,
        *,
        health: WorkerHealth | None = None,
        stop_when_drained: bool = False,
        topics: dict[Route, str] | None = None,
        bounds: ReplayBounds | None = None,
        control: ControlFollower | None = None,
        commits: bool = True,
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.consumer = consumer
        self.producer = producer
        self.sink = OutputSink(producer, topics or output_topics(settings))
        #: A replay reads a bounded range by manual assignment instead of the group's share.
        self.bounds = bounds
        self.control = control
        #: Without a consumer group (a replay without --group) nothing is committed.
        self.commits = commits
        self.checkpoint = Checkpoint()
        self.health = health or WorkerHealth()
        self.stop_when_drained = stop_when_drained
        self._stop = asyncio.Event()
        self._batch_lock = asyncio.Lock()
        self._last_commit = 0.0
        self._last_probe = 0.0
        self._assigned: set[TopicPartition] = set()
        #: Last offset this worker committed per partition: the base of the lag gauge.
        self._committed: dict[TopicPartition, int] = {}

    def request_stop(self) -> None:
        self._stop.set()

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until stopped (or drained in burst mode); raise `WorkerError` on a fatal error."""
        try:
            await self._start()
            self.health.phase = "running"
            await self._loop()
            await self._drain_and_commit(self.settings.shutdown_timeout_s)
        except BaseException:
            self.health.phase = "failed"
            raise
        finally:
            await self._close()
        self.health.phase = "stopped"

    async def _start(self) -> None:
        await self.producer.start()
        # start() bootstrapped from the broker. The probe only runs when a poll comes back
        # empty: without this, a worker busy from its first poll would never turn ready.
        self.health.broker_reachable = True
        await self.consumer.start()
        await self.sink.refresh_partitions()
        if self.control is not None:
            # Gate nothing before the enablement history is known (CONTRACT 4).
            self.health.control_loaded = False
            await self.control.load()
            self.health.control_loaded = True
        if self.bounds is not None:
            await self.bounds.begin(self.consumer, self.settings, resume=self.commits)
            await self._on_assigned(self.bounds.partitions)
        else:
            self.consumer.subscribe(
                [self.settings.raw_topic],
                listener=RebalanceListener(self._on_revoked, self._on_assigned),
            )

    async def _close(self) -> None:
        """Stop every client, started or not (a failed start must not leak connections)."""
        if self.control is not None:
            await self.control.stop()
        # stop() leaves the group; the listener is not called, so run() committed first.
        await self.consumer.stop()
        await self.producer.stop()

    async def _loop(self) -> None:
        settings = self.settings
        idle_since: float | None = None
        while not self._stop.is_set():
            self.health.last_loop_at = time.monotonic()
            await self._collect_and_commit()
            if self.bounds is not None and self.bounds.finished():
                return
            if (
                self.checkpoint.records >= settings.max_inflight_records
                or self.checkpoint.bytes >= settings.max_inflight_bytes
            ):
                await self.checkpoint.wait_oldest()
                continue
            batches = await self.consumer.getmany(
                timeout_ms=200, max_records=settings.max_batch_records
            )
            if batches:
                idle_since = None
                async with self._batch_lock:
                    started = time.perf_counter()
                    await self._process(batches)
                    finished = time.perf_counter()
                    if self.health.batch_seconds is not None:
                        self.health.batch_seconds(finished - started)
                    self.health.first_batch_at = self.health.first_batch_at or started
                    self.health.last_batch_at = finished
            else:
                now = time.monotonic()
                idle_since = idle_since or now
                await self._probe_broker(now)
                if self.stop_when_drained and now - idle_since > 1.0 and await self._drained():
                    return
            self.health.in_flight_records = self.checkpoint.records

    # -- processing --------------------------------------------------------------------------

    async def _process(self, batches: dict[TopicPartition, list[Any]]) -> None:
        assigned = self.consumer.assignment()
        pipeline = self.pipeline
        offsets: dict[TopicPartition, int] = {}
        count = size = 0
        bounds = self.bounds
        for tp, fetched in batches.items():
            if tp not in assigned:
                # Revoked while we waited for the lock: the new owner reads these.
                continue
            if bounds is not None:
                messages, next_offset = bounds.clip(self.consumer, tp, fetched)
            else:
                messages = self._accept(tp, fetched)
                next_offset = messages[-1].offset + 1 if messages else None
            if next_offset is None:
                continue
            topic, partition = tp.topic, tp.partition
            emit = self._emit_for(tp)
            for message in messages:
                value: bytes = message.value or b""
                record = InputRecord(
                    value=value,
                    key=message.key,
                    headers=list(message.headers),
                    topic=topic,
                    partition=partition,
                    offset=message.offset,
                    timestamp_ms=message.timestamp,
                )
                _process_safely(pipeline, record, emit)
                size += len(value)
            count += len(messages)
            offsets[tp] = next_offset
        if offsets:
            await self._publish(offsets, count, size)

    def _accept(self, tp: TopicPartition, messages: list[Any]) -> list[Any]:
        """The fetched messages to process (exactly-once drops what it already processed)."""
        del tp
        return messages

    def _emit_for(self, tp: TopicPartition) -> Callable[[OutputRecord], None]:
        """Where the outputs of an input partition go (one sink; exactly-once has one each)."""
        del tp
        return self.sink.add

    async def _publish(self, offsets: dict[TopicPartition, int], count: int, size: int) -> None:
        """Hand the batch's outputs to the producer; the checkpoint commits once acked."""
        futures = await self.sink.flush()
        self.checkpoint.add(InFlightBatch(offsets, futures, count, size))
        log.debug("batch", records=count, outputs=len(futures), partitions=len(offsets))

    # -- delivery and commits ----------------------------------------------------------------

    async def _collect_and_commit(self, force: bool = False) -> None:
        try:
            self.checkpoint.collect()
        except DeliveryError as failure:
            await self._on_delivery_failure(failure)
            return
        now = time.monotonic()
        if self.checkpoint.committable and (force or now - self._last_commit >= COMMIT_INTERVAL_S):
            self._last_commit = now
            await self._commit(self.checkpoint.take())

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        offsets = {tp: o for tp, o in offsets.items() if tp in self._assigned}
        if not offsets or not self.commits:
            return
        try:
            await self.consumer.commit(offsets)
            self.health.commits += 1
            self._committed.update(offsets)
            self._update_lag()
        except CommitFailedError as exc:
            # The group rebalanced under us: the partitions' new owners read these again.
            self.health.commit_failures += 1
            log.warning("commit rejected after rebalance", error=str(exc))
        except KafkaError as exc:
            # Transient: keep the offsets, the next commit carries them (or newer ones).
            self.health.commit_failures += 1
            for tp, offset in offsets.items():
                self.checkpoint.committable.setdefault(tp, offset)
            log.warning("commit failed, will retry", error=repr(exc))

    async def _on_delivery_failure(self, failure: DeliveryError) -> None:
        self.health.delivery_failures += 1
        if not failure.retriable:
            raise WorkerError(
                f"an output was refused by the broker and will not be retried: {failure.cause!r}"
            ) from failure.cause
        log.warning("output not delivered, rewinding to the last commit", error=repr(failure.cause))
        async with self._batch_lock:
            await self._rewind()

    async def _rewind(self) -> None:
        """Read again everything after the last commit: at-least-once without reordering."""
        self.health.rewinds += 1
        await self.checkpoint.settle(self.settings.shutdown_timeout_s)
        with contextlib.suppress(DeliveryError):
            self.checkpoint.collect()
        await self._commit(self.checkpoint.take())
        self.checkpoint.clear()
        self.sink.discard()
        await asyncio.sleep(1.0)
        for tp in self.consumer.assignment():
            position = self.checkpoint.acked.get(tp)
            if position is None and self.bounds is not None:
                position = self.bounds.starts[tp]
            if position is None and self.commits:
                position = await self.consumer.committed(tp)
            if position is None:
                await self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, position)

    async def _drain_and_commit(self, limit_s: float) -> None:
        self.health.phase = "draining"
        async with self._batch_lock:
            settled = await self.checkpoint.settle(limit_s)
            try:
                self.checkpoint.collect()
            except DeliveryError as failure:
                log.error("outputs not delivered at shutdown", error=repr(failure.cause))
            await self._commit(self.checkpoint.take())
        if not settled:
            raise WorkerError(f"outputs still unacknowledged after {limit_s:g} s; not committed")

    # -- rebalances --------------------------------------------------------------------------

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        self.health.rebalances += 1
        async with self._batch_lock:
            await self.checkpoint.settle(min(self.settings.shutdown_timeout_s, 10.0))
            try:
                self.checkpoint.collect()
            except DeliveryError as failure:
                # Not committed: the next owner reads those inputs again.
                log.warning("outputs not delivered before revoke", error=repr(failure.cause))
            await self._commit(self.checkpoint.take())
            self.checkpoint.clear()
            self.sink.discard()
            self._assigned -= revoked
            for tp in revoked:
                self.checkpoint.acked.pop(tp, None)
                self._committed.pop(tp, None)
        log.info("partitions revoked", partitions=sorted(tp.partition for tp in revoked))

    async def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        self._assigned = set(assigned)
        self.health.assigned_partitions = len(assigned)
        self.health.assignment_received = True
        await self.sink.refresh_partitions()
        log.info("partitions assigned", partitions=sorted(tp.partition for tp in assigned))

    # -- broker and drain checks -------------------------------------------------------------

    async def _probe_broker(self, now: float) -> None:
        if now - self._last_probe < BROKER_PROBE_INTERVAL_S:
            return
        self._last_probe = now
        try:
            await asyncio.wait_for(self.producer.client.fetch_all_metadata(), 5.0)
        except (KafkaError, TimeoutError) as exc:
            health = self.health
            health.broker_reachable = False
            health.broker_unreachable_since = health.broker_unreachable_since or now
            down_for = now - health.broker_unreachable_since
            if down_for >= self.settings.broker_unavailable_warn_s:
                log.error("broker unreachable", seconds=round(down_for), error=repr(exc))
            return
        self.health.broker_reachable = True
        self.health.broker_unreachable_since = None
        self._update_lag()

    def _update_lag(self) -> None:
        lag: dict[str, int] = {}
        for tp in self._assigned:
            highwater = self.consumer.highwater(tp)
            committed = self._committed.get(tp)
            if highwater is not None and committed is not None:
                lag[f"{tp.topic}:{tp.partition}"] = max(0, highwater - committed)
        self.health.lag = lag

    async def _drained(self) -> bool:
        """Burst mode: every assigned partition read to its high watermark and all committed."""
        if self.checkpoint.in_flight or self.checkpoint.committable or not self._assigned:
            return False
        for tp in self._assigned:
            highwater = self.consumer.highwater(tp)
            if highwater is None:
                highwater = (await self.consumer.end_offsets([tp]))[tp]
            if await self.consumer.position(tp) < highwater:
                return False
        return True


def _process_safely(
    pipeline: Pipeline, record: InputRecord, emit: Callable[[OutputRecord], None]
) -> None:
    """A bug in the pipeline must not stop the stream: the record is dead-lettered instead."""
    try:
        pipeline.process(record, emit)
    except Exception as exc:
        log.exception(
            "pipeline error", topic=record.topic, partition=record.partition, offset=record.offset
        )
        pipeline.stats.dead_letters["internal_error"] += 1
        emit(dead_letter(record, ItemError("internal_error", f"{type(exc).__name__}")))
