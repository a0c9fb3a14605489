"""The broker-loss guards of every stage: is the broker there, and does it still have our data?

- A probe on a clock, beside the loop: a loop held up by a stalled broker (a publish waits
  while the partition's previous batch is unanswered) must still turn not ready.
- Data loss: a topic the stage reads or writes is gone, an input partition it committed on is
  gone, or ends or restarts below an offset it committed. Then the stage stops without
  committing: offsets held for the old log mean nothing in a new one.
- Membership: once the coordinator forgot this member, no commit is sent (like the Java
  client's onPartitionsLost); the next owner reads from the last valid commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import structlog
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from processor.ops.health import StageHealth
from processor.runtime.aiokafka_private import generation, refuse_commits_when
from processor.runtime.errors import StageError
from processor.runtime.tasks import cancel_and_wait
from schemas.settings import Settings

log = structlog.get_logger("processor.guards")

PROBE_INTERVAL_S = 5.0


class BrokerWatch:
    def __init__(
        self,
        settings: Settings,
        consumer: Any,
        producer: Any,
        topics: Callable[[], set[str]],
        health: StageHealth,
        *,
        manual: bool = False,
    ) -> None:
        self.settings = settings
        self.consumer = consumer
        self.producer = producer
        #: Every topic the stage reads or writes (asked anew: a handler may learn more).
        self._topics = topics
        self.health = health
        #: Manual assignment (a replay): commits are standalone on purpose, no membership.
        self.manual = manual
        self.assigned: set[TopicPartition] = set()
        #: Last offset committed per partition: the base of the lag gauge.
        self._committed: dict[TopicPartition, int] = {}
        #: Highest offset ever committed per partition, kept across rebalances: a partition's
        #: log never ends below it, nor do records read from it restart below.
        self._floor: dict[TopicPartition, int] = {}
        self.fatal: StageError | None = None
        self._lost_event = asyncio.Event()

    # -- commits ------------------------------------------------------------------------

    def guard_commits(self) -> None:
        if not self.manual:
            refuse_commits_when(self.consumer, self.membership_lost)

    def membership_lost(self) -> bool:
        """The coordinator no longer knows this member (its session expired, or the broker is
        a new one): aiokafka would send a commit with generation -1, which an empty or
        unknown group takes as a standalone commit."""
        return not self.manual and generation(self.consumer) == -1

    def may_commit(self) -> bool:
        return self.fatal is None and not self.membership_lost()

    def committed(self, offsets: dict[TopicPartition, int]) -> None:
        self._committed.update(offsets)
        for tp, offset in offsets.items():
            self._floor[tp] = max(offset, self._floor.get(tp, 0))
        self.update_lag()

    def revoked(self, partitions: set[TopicPartition]) -> None:
        self.assigned -= partitions
        for tp in partitions:
            self._committed.pop(tp, None)

    def accepts(self, tp: TopicPartition, fetched: list[Any]) -> bool:
        """False (and the stage stops) when records restart below what was committed."""
        floor = self._floor.get(tp)
        if floor is not None and fetched and fetched[0].offset < floor:
            self.lost(
                f"{tp.topic} partition {tp.partition} restarts at offset "
                f"{fetched[0].offset}, below offset {floor} this worker committed"
            )
            return False
        return True

    # -- probing ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def probing(self) -> AsyncIterator[None]:
        """Probe the broker every PROBE_INTERVAL_S while the block runs."""
        task = asyncio.create_task(self._probe_forever(), name="broker-probe")
        try:
            yield
        finally:
            await cancel_and_wait(task)

    async def _probe_forever(self) -> None:
        while True:
            await asyncio.sleep(PROBE_INTERVAL_S)
            await self.check()

    async def check(self) -> None:
        """Does the broker answer, and does it still have our topics and offsets?"""
        now = time.monotonic()
        try:
            async with asyncio.timeout(5.0):
                cluster = await self.producer.client.fetch_all_metadata()
        except (KafkaError, TimeoutError) as exc:
            self.unreachable(exc, now)
            return
        self.health.broker_reachable = True
        self.health.broker_unreachable_since = None
        missing = sorted(t for t in self._topics() if not cluster.partitions_for_topic(t))
        if missing:
            self.lost(f"topics {', '.join(missing)} no longer exist")
            return
        gone = [
            tp for tp in self._floor if tp.partition not in cluster.partitions_for_topic(tp.topic)
        ]
        if gone:
            self.lost(f"{gone[0].topic} partition {gone[0].partition} no longer exists")
            return
        for tp in self.assigned & self.consumer.assignment():
            # Exact on every broker: the high watermark of the last fetch response.
            highwater, floor = self.consumer.highwater(tp), self._floor.get(tp)
            if highwater is not None and floor is not None and highwater < floor:
                self.lost(
                    f"{tp.topic} partition {tp.partition} ends at offset {highwater}, below "
                    f"offset {floor} this worker committed"
                )
                return
        self.update_lag()

    def unreachable(self, exc: BaseException, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        health = self.health
        health.broker_reachable = False
        health.broker_unreachable_since = health.broker_unreachable_since or now
        down_for = now - health.broker_unreachable_since
        if down_for >= self.settings.broker_unavailable_warn_s:
            log.error("broker unreachable", seconds=round(down_for), error=repr(exc))

    # -- data loss ----------------------------------------------------------------------

    def lost(self, what: str) -> None:
        """The broker lost data it had: the stage stops and commits nothing more."""
        if self.fatal is None:
            log.error("the broker lost data this worker had read", reason=what)
            self.fatal = StageError(
                f"{what} at {self.settings.bootstrap_servers} (topics deleted, or the broker"
                " replaced by an empty one): stopped without committing; recreate the topics"
                " and check the group's offsets, then restart"
            )
            self._lost_event.set()

    def raise_if_lost(self) -> None:
        if self.fatal is not None:
            raise self.fatal

    async def unless_lost(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work`, but give up on it once the broker is found to have lost our data: a
        publish to a vanished topic would wait out the producer's metadata timeout first."""
        task = asyncio.ensure_future(work)
        lost = asyncio.ensure_future(self._lost_event.wait())
        try:
            await asyncio.wait((task, lost), return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if not task.done():
            await cancel_and_wait(task)
            self.raise_if_lost()
        task.result()

    def update_lag(self) -> None:
        lag: dict[str, int] = {}
        for tp in self.assigned:
            highwater = self.consumer.highwater(tp)
            committed = self._committed.get(tp)
            if highwater is not None and committed is not None:
                lag[f"{tp.topic}:{tp.partition}"] = max(0, highwater - committed)
        self.health.lag = lag
