"""The streaming worker (`run`): consume, run the pure pipeline, publish, commit after acks.

The loop, in order: collect delivered batches (commit what is done), wait when too much is in
flight (backpressure: fetching pauses instead of memory growing), fetch, process and publish
under the batch lock, repeat. A rebalance takes the same lock, so it never sees half a batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from aiokafka.errors import KafkaError, UnknownMemberIdError
from aiokafka.structs import TopicPartition

from processor.core.pipeline import Pipeline
from processor.core.records import InputRecord, ItemError, OutputRecord, Route
from processor.core.route import dead_letter
from processor.kafka.bounds import ReplayBounds
from processor.kafka.checkpoint import Checkpoint, DeliveryError, InFlightBatch, commit_offsets
from processor.kafka.control import ControlFollower
from processor.kafka.health import WorkerHealth
from processor.kafka.sink import OutputSink
from processor.kafka.source import RebalanceListener, read_to_end
from schemas.settings import Settings

log = structlog.get_logger("processor.worker")

BROKER_PROBE_INTERVAL_S = 5.0
#: How long a topic missing at start may take to show up (one created a moment ago).
REQUIRE_TOPICS_S = 5.0
#: One info line this often while records flow: what an operator tails, never per record.
SUMMARY_INTERVAL_S = 30.0


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
        self._last_probe = 0.0
        self._last_summary = time.monotonic()
        self._assigned: set[TopicPartition] = set()
        #: Last offset this worker committed per partition: the base of the lag gauge.
        self._committed: dict[TopicPartition, int] = {}
        #: Highest offset this worker ever committed per partition, kept across rebalances:
        #: a partition's log never ends below it, nor do offsets read from it restart below.
        self._floor: dict[TopicPartition, int] = {}
        #: Set once the broker lost data we had (topics gone, offsets went backwards): the
        #: loop raises it and nothing is committed after it.
        self._fatal: WorkerError | None = None
        self._lost_event = asyncio.Event()

    def request_stop(self) -> None:
        self._stop.set()

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until stopped (or drained in burst mode); raise `WorkerError` on a fatal error."""
        prober: asyncio.Task[None] | None = None
        try:
            await self._start()
            self.health.phase = "running"
            prober = asyncio.create_task(self._probe_forever(), name="broker-probe")
            await self._loop()
            await self._drain_and_commit(self.settings.shutdown_timeout_s)
        except BaseException as exc:
            self.health.phase = "failed"
            if self._fatal is not None:
                self.checkpoint.clear()  # their outcome no longer matters
                if exc is not self._fatal and isinstance(exc, Exception):
                    # Whatever broke after the broker lost our data, that loss is the reason.
                    raise self._fatal from exc
            raise
        finally:
            if prober is not None:
                prober.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await prober
            await self._close()
        self.health.phase = "stopped"

    async def _start(self) -> None:
        await self.producer.start()
        # start() bootstrapped from the broker. The probe only runs when a poll comes back
        # empty: without this, a worker busy from its first poll would never turn ready.
        self.health.broker_reachable = True
        await self.consumer.start()
        self._refuse_commits_without_membership()
        await self._require_topics()
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

    async def _require_topics(self) -> None:
        """Refuse to start without our topics, before any client asks for them by name: a
        broker with `auto.create.topics.enable` would create them with default settings."""
        wanted = {self.settings.raw_topic, *self.sink.topics.values()}
        if self.control is not None:
            wanted.add(self.settings.control_topic)
        deadline = time.monotonic() + REQUIRE_TOPICS_S
        while True:
            cluster = await self.producer.client.fetch_all_metadata()
            missing = sorted(t for t in wanted if not cluster.partitions_for_topic(t))
            if not missing or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)  # a topic created a moment ago may not be listed yet
        if missing:
            raise WorkerError(
                f"topics {', '.join(missing)} do not exist at {self.settings.bootstrap_servers}:"
                " create them with `bsuid-processor topics ensure` (or run with --create-topics)"
            )

    async def _close(self) -> None:
        """Stop every client, started or not (a failed start must not leak connections)."""
        if self.control is not None:
            await self.control.stop()
        # stop() leaves the group; the listener is not called, so run() committed first.
        await self.consumer.stop()
        if self._fatal is None:
            await self.producer.stop()
            return
        # Outputs still pending go to topics that are gone: do not wait out their timeout.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.producer.stop(), 5.0)

    async def _loop(self) -> None:
        settings = self.settings
        idle_since: float | None = None
        while not self._stop.is_set():
            if self._fatal is not None:
                raise self._fatal
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
                    await self._unless_lost(self._process(batches))
                    finished = time.perf_counter()
                    if self.health.batch_seconds is not None:
                        self.health.batch_seconds(finished - started)
                    self.health.first_batch_at = self.health.first_batch_at or started
                    self.health.last_batch_at = finished
            else:
                now = time.monotonic()
                idle_since = idle_since or now
                if self.stop_when_drained and now - idle_since > 1.0 and await self._drained():
                    return
            self.health.in_flight_records = self.checkpoint.records
            self._maybe_log_summary()

    def _maybe_log_summary(self) -> None:
        now = time.monotonic()
        if now - self._last_summary < SUMMARY_INTERVAL_S:
            return
        self._last_summary = now
        stats = self.pipeline.stats
        log.info(
            "processing",
            records=stats.records,
            routes=dict(stats.by_route()),
            dead_letters=dict(stats.dead_letters),
            lag=sum(self.health.lag.values()),
            rebalances=self.health.rebalances,
        )

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
            floor = self._floor.get(tp)
            if floor is not None and fetched and fetched[0].offset < floor:
                self._lost(
                    f"{tp.topic} partition {tp.partition} restarts at offset "
                    f"{fetched[0].offset}, below offset {floor} this worker committed"
                )
                return
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
        log.debug(
            "batch",
            topic=self.settings.raw_topic,
            next_offsets={tp.partition: offset for tp, offset in offsets.items()},
            records=count,
            output_batches=len(futures),
        )

    # -- delivery and commits ----------------------------------------------------------------

    async def _collect_and_commit(self, force: bool = False) -> None:
        try:
            self.checkpoint.collect()
        except DeliveryError as failure:
            await self._on_delivery_failure(failure)
            return
        await self._commit(self.checkpoint.due(force))

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        offsets = {tp: o for tp, o in offsets.items() if tp in self._assigned}
        if not offsets or not self.commits or self._fatal is not None or self._membership_lost():
            return
        failure = await commit_offsets(self.consumer, offsets, self.checkpoint)
        if failure is None:
            self.health.commits += 1
            self._committed.update(offsets)
            for tp, offset in offsets.items():
                self._floor[tp] = max(offset, self._floor.get(tp, 0))
            self._update_lag()
            return
        self.health.commit_failures += 1
        if isinstance(failure, TimeoutError):
            # Unanswered (broker stalled) or retried in vain (topic gone): not ready until
            # the broker answers a probe, and a probe tells which.
            self._broker_unreachable(time.monotonic(), failure)
            await self._check_broker(time.monotonic())

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
        # A broker replaced by an empty one makes the group rejoin: check before committing.
        await self._check_broker(time.monotonic())
        if self._fatal is not None:
            return  # stopping: the loop raises it; nothing is committed
        async with self._batch_lock:
            if not self._membership_lost():
                await self.checkpoint.settle(min(self.settings.shutdown_timeout_s, 10.0))
                try:
                    self.checkpoint.collect()
                except DeliveryError as failure:
                    # Not committed: the next owner reads those inputs again.
                    log.warning("outputs not delivered before revoke", error=repr(failure.cause))
                await self._commit(self.checkpoint.take())
            self.checkpoint.committable.clear()
            self.checkpoint.clear()
            self.sink.discard()
            self._assigned -= revoked
            for tp in revoked:
                self.checkpoint.acked.pop(tp, None)
                self._committed.pop(tp, None)
        log.info("partitions revoked", partitions=sorted(tp.partition for tp in revoked))

    def _refuse_commits_without_membership(self) -> None:
        """aiokafka retries a failed commit with the generation its member has by then: after
        the coordinator forgot the member that is -1, a standalone commit that an empty (or a
        brand-new, empty) group accepts, so a commit begun before a broker was replaced could
        land in the new one. Refuse to send those (the commit fails as after a rebalance)."""
        coordinator: Any = getattr(self.consumer, "_coordinator", None)
        send = getattr(coordinator, "_do_commit_offsets", None)
        if self.bounds is not None or send is None:
            return  # a replay's manual assignment commits standalone on purpose

        async def guarded(assignment: Any, offsets: Any) -> Any:
            if self._membership_lost():
                raise UnknownMemberIdError("membership lost: offsets not committed")
            return await send(assignment, offsets)

        coordinator._do_commit_offsets = guarded

    def _membership_lost(self) -> bool:
        """The coordinator no longer knows this member (its session expired, or the broker is
        a new one): like the Java client's onPartitionsLost, commit nothing then. aiokafka
        would send the commit with generation -1, which an empty or unknown group takes as a
        standalone commit; the next owner reads from the last valid commit instead."""
        coordinator = getattr(self.consumer, "_coordinator", None)
        return self.bounds is None and getattr(coordinator, "generation", 0) == -1

    async def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        self._assigned = set(assigned)
        self.health.assigned_partitions = len(assigned)
        self.health.assignment_received = True
        await self.sink.refresh_partitions()
        log.info("partitions assigned", partitions=sorted(tp.partition for tp in assigned))

    # -- broker and drain checks -------------------------------------------------------------

    async def _probe_forever(self) -> None:
        """Probe the broker on a clock, beside the loop: a loop held up by a stalled broker (a
        publish waits while the partition's previous batch is unanswered) must still turn
        not ready, and still notice a broker that lost our data."""
        while True:
            await asyncio.sleep(1.0)
            await self._probe_broker(time.monotonic())

    async def _probe_broker(self, now: float) -> None:
        if now - self._last_probe < BROKER_PROBE_INTERVAL_S:
            return
        self._last_probe = now
        await self._check_broker(now)

    async def _check_broker(self, now: float) -> None:
        """Does the broker answer, and does it still have our topics?

        Topics that vanished mean they were deleted or the broker was replaced by an empty
        one: the offsets this worker holds mean nothing there, so it stops (`_fatal`) without
        committing, instead of retrying commits forever or committing into a stranger's log.
        """
        try:
            cluster = await asyncio.wait_for(self.producer.client.fetch_all_metadata(), 5.0)
        except (KafkaError, TimeoutError) as exc:
            self._broker_unreachable(now, exc)
            return
        self.health.broker_reachable = True
        self.health.broker_unreachable_since = None
        topics = sorted({self.settings.raw_topic, *self.sink.topics.values()})
        missing = [topic for topic in topics if not cluster.partitions_for_topic(topic)]
        if missing:
            self._lost(f"topics {', '.join(missing)} no longer exist")
            return
        gone = [
            tp for tp in self._floor if tp.partition not in cluster.partitions_for_topic(tp.topic)
        ]
        if gone:
            self._lost(f"{gone[0].topic} partition {gone[0].partition} no longer exists")
            return
        for tp in self._assigned & self.consumer.assignment():
            # Exact on every broker: the high watermark of the last fetch response.
            highwater, floor = self.consumer.highwater(tp), self._floor.get(tp)
            if highwater is not None and floor is not None and highwater < floor:
                self._lost(
                    f"{tp.topic} partition {tp.partition} ends at offset {highwater}, below "
                    f"offset {floor} this worker committed"
                )
                return
        self._update_lag()

    async def _unless_lost(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work`, but give up on it once the broker is found to have lost our data: a
        publish to a vanished topic would wait out the producer's metadata timeout first."""
        task = asyncio.ensure_future(work)
        lost = asyncio.ensure_future(self._lost_event.wait())
        try:
            await asyncio.wait((task, lost), return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            assert self._fatal is not None
            raise self._fatal
        task.result()

    def _lost(self, what: str) -> None:
        """The broker lost data it had: stop (the loop raises this) and commit nothing more."""
        if self._fatal is None:
            log.error("the broker lost data this worker had read", reason=what)
            self._fatal = WorkerError(
                f"{what} at {self.settings.bootstrap_servers} (topics deleted, or the broker"
                " replaced by an empty one): stopped without committing; recreate the topics"
                " and check the group's offsets, then restart"
            )
            self._lost_event.set()

    def _broker_unreachable(self, now: float, exc: BaseException) -> None:
        health = self.health
        health.broker_reachable = False
        health.broker_unreachable_since = health.broker_unreachable_since or now
        down_for = now - health.broker_unreachable_since
        if down_for >= self.settings.broker_unavailable_warn_s:
            log.error("broker unreachable", seconds=round(down_for), error=repr(exc))

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
        return await read_to_end(self.consumer, self._assigned)


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
