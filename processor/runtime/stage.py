"""The stage loop every Kafka stage runs on: worker, exactly-once, replay, links, redrive.

It owns poll, backpressure, rebalances, drain-on-stop, burst mode and the broker-loss guards;
a `Handler` (the work) and a `Delivery` (at-least-once or exactly-once) are plugged in.

Each turn: raise if the broker lost our data; commit what is due (partitions whose outputs
were lost are read again); stop once a replay's range is read; wait while too much is in
flight (fetching pauses instead of memory growing); poll; process and publish the batch under
the batch lock. A rebalance takes the same lock, so it never sees half a batch.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from aiokafka.structs import TopicPartition

from processor.ops.health import StageHealth
from processor.runtime.bounds import ReplayBounds
from processor.runtime.clients import wait_for_broker
from processor.runtime.delivery import Delivery
from processor.runtime.errors import StageError
from processor.runtime.guards import BrokerWatch
from processor.runtime.handler import Handler
from processor.runtime.reader import read_by_group
from processor.runtime.source import RebalanceListener, now_ms, read_to_end
from processor.runtime.topics import require_topics
from schemas.settings import Settings

log = structlog.get_logger("processor.stage")

#: One info line this often while records flow: what an operator tails, never per record.
SUMMARY_INTERVAL_S = 30.0
POLL_TIMEOUT_MS = 200


class Stage:
    def __init__(
        self,
        name: str,
        settings: Settings,
        consumer: Any,
        *,
        handler: Handler,
        delivery: Delivery,
        watch: BrokerWatch,
        health: StageHealth,
        bounds: ReplayBounds | None = None,
        stop_when_drained: bool = False,
    ) -> None:
        self.name = name
        self.settings = settings
        self.consumer = consumer
        self.handler = handler
        self.delivery = delivery
        self.watch = watch
        self.health = health
        #: A replay reads a bounded range by manual assignment instead of the group's share.
        self.bounds = bounds
        self.stop_when_drained = stop_when_drained
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()
        self._failure: StageError | None = None
        self._committed_read = settings.guarantee == "exactly-once"

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Run until stopped, drained (burst mode) or the range is read; `StageError` when
        it cannot go on safely."""
        try:
            await self._start()
            self.health.phase = "running"
            async with self.watch.probing():
                await self._loop()
                self.health.phase = "draining"
                async with self._lock:
                    await self.delivery.drain(self.settings.shutdown_timeout_s)
        except BaseException as exc:
            self.health.phase = "failed"
            fatal = self.watch.fatal
            if fatal is not None and exc is not fatal and isinstance(exc, Exception):
                # Whatever broke after the broker lost our data, that loss is the reason.
                raise fatal from exc
            raise
        finally:
            await self.close()
        self.health.phase = "stopped"

    async def _start(self) -> None:
        # Not ready (phase "starting") while the broker is not up yet; alive meanwhile.
        await wait_for_broker(self.settings, self.health.loop_turned)
        await self.delivery.start()
        # start() bootstrapped from the broker. The probe runs on a clock: without this, a
        # stage would not turn ready before its first probe.
        self.health.broker_reachable = True
        await self.consumer.start()
        self.watch.guard_commits()
        handler = self.handler
        outputs = handler.outputs()
        wanted = {*handler.inputs, *outputs, *handler.required()}
        await require_topics(self.delivery.producer.client, wanted, self.settings.bootstrap_servers)
        await self.delivery.learn(outputs)
        await handler.prepare()
        if self.bounds is not None:
            resume = self.delivery.commits or self.bounds.peek_commits
            await self.bounds.begin(self.consumer, self.settings, resume=resume)
            self.delivery.starts.update(self.bounds.starts)
            await self._assign(self.bounds.partitions)
        else:
            listener = RebalanceListener(self._revoke, self._assign, self._listener_failed)
            self.consumer.subscribe(list(handler.inputs), listener=listener)
        # Runs while the group join goes on; no record is processed before it ends.
        await handler.load()

    async def close(self) -> None:
        """Stop every client, started or not (a failed start must not leak connections)."""
        try:
            await self.handler.close()
        finally:
            try:
                # stop() leaves the group; the listener is not called, so run() committed.
                await self.consumer.stop()
            finally:
                await self.delivery.close(abandon=self.watch.fatal is not None)

    async def _loop(self) -> None:
        delivery, health, watch = self.delivery, self.health, self.watch
        idle_since_ms: int | None = None
        while not self._stop.is_set():
            watch.raise_if_lost()
            if self._failure is not None:
                raise self._failure
            health.loop_turned()
            lost = await delivery.commit_due()
            if lost:
                async with self._lock:
                    await delivery.rewind(lost)
                    await self.handler.rewound(lost)
            if not self.handler.settled():
                # State to read back (a restore that failed before): not while a rebalance
                # callback works on the same state.
                async with self._lock:
                    await self.handler.tick()
            if self.bounds is not None and self.bounds.finished():
                return
            if delivery.backlogged():
                await delivery.wait_oldest()
                continue
            polled_at = now_ms()
            batches = await self.consumer.getmany(
                timeout_ms=POLL_TIMEOUT_MS, max_records=self.settings.max_batch_records
            )
            if batches:
                idle_since_ms = None
                received = time.monotonic()
                async with self._lock:
                    started = time.perf_counter()
                    await watch.unless_lost(self._process(batches, received))
                    health.batch_done(started, time.perf_counter())
            else:
                idle_since_ms = idle_since_ms or polled_at
                if self.bounds is not None:
                    await self.bounds.reached(self.consumer)
                if self.stop_when_drained and await self._drained(idle_since_ms):
                    return
            health.in_flight_records = delivery.in_flight_records()
            self._maybe_log_summary()

    async def _process(self, batches: dict[TopicPartition, list[Any]], received: float) -> None:
        """Process and publish one poll's records; `received`: time.monotonic() when the poll
        returned them (the record wait histogram starts there)."""
        assigned = self.consumer.assignment()
        delivery, handler, bounds = self.delivery, self.handler, self.bounds
        offsets: dict[TopicPartition, int] = {}
        handed: list[tuple[str, list[Any]]] = []
        count = size = 0
        for tp, fetched in batches.items():
            if tp not in assigned:
                continue  # revoked while we waited for the lock: the new owner reads these
            # First what the delivery already has: records fetched before a seek that a
            # rebalance made while this batch waited for the lock. Only the rest can tell
            # that the broker lost data.
            messages = delivery.accept(tp, fetched)
            if not self.watch.accepts(tp, messages):
                return
            if bounds is not None:
                messages, next_offset = bounds.clip(self.consumer, tp, messages)
            else:
                next_offset = messages[-1].offset + 1 if messages else None
            if next_offset is None:
                continue
            read = handler.process(tp, messages, delivery.outputs(tp))
            if read is None:
                # Not ready for it (state still being read back): read these again later.
                self.consumer.seek(tp, fetched[0].offset)
                continue
            size += read
            count += len(messages)
            offsets[tp] = next_offset
            handed.append((tp.topic, messages))
        if offsets:
            await delivery.publish(offsets, count, size)
            self.health.handed_over(handed, received)
            log.debug(
                "batch",
                stage=self.name,
                records=count,
                next_offsets={f"{tp.topic}:{tp.partition}": o for tp, o in offsets.items()},
            )

    def _listener_failed(self, what: str, exc: Exception) -> None:
        log.error("rebalance handling failed", stage=self.name, step=what, error=repr(exc))
        self._failure = self._failure or StageError(f"{what} failed: {exc!r}")

    async def _revoke(self, revoked: set[TopicPartition]) -> None:
        self.health.rebalances += 1
        # A broker replaced by an empty one makes the group rejoin: check before committing.
        await self.watch.check()
        if self.watch.fatal is not None:
            return  # stopping: the loop raises it; nothing is committed
        async with self._lock:
            delivered = await self.delivery.revoked(revoked)
            await self.handler.revoked(revoked, delivered)
            self.watch.revoked(revoked)
        log.info("partitions revoked", stage=self.name, partitions=_names(revoked))

    async def _assign(self, assigned: set[TopicPartition]) -> None:
        # Under the batch lock: no batch of these partitions is processed half-set-up.
        async with self._lock:
            await self.delivery.assigned(assigned, seek=self.bounds is None)
            await self.delivery.learn(self.handler.outputs())
            self.watch.assigned = set(assigned)
            self.health.assigned_partitions = len(assigned)
            self.health.assignment_received = True
            await self.handler.assigned(assigned)
        log.info("partitions assigned", stage=self.name, partitions=_names(assigned))

    async def _drained(self, idle_since_ms: int) -> bool:
        """Burst mode: everything assigned read to its end (as a fetch response after the
        first empty poll tells) and committed."""
        assigned = self.consumer.assignment()
        if not assigned or not self.delivery.idle() or not self.handler.settled():
            return False
        if not await read_to_end(
            self.consumer, assigned, idle_since_ms, committed=self._committed_read
        ):
            return False
        if self.handler.feeds_itself and self.bounds is None:
            group = self.settings.group_id
            return await read_by_group(self.settings, group, self.handler.inputs)
        return True

    def _maybe_log_summary(self) -> None:
        if self.health.summary_due(SUMMARY_INTERVAL_S):
            log.info("processing", stage=self.name, **self.handler.summary(), **self.health.brief())


def _names(tps: set[TopicPartition]) -> list[str]:
    return sorted(f"{tp.topic}:{tp.partition}" for tp in tps)
