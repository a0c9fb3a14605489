"""`links run`: one consumer group over the identity topic and the repartition topic.

Like a Kafka Streams application with two sub-topologies: identity records are re-keyed onto
the repartition topic (`LinksTopology.route`), repartition records update the state of their
partition (`LinksTopology.process`). Partitions of both topics are shared by the group.

Delivery order, per polled batch (CONTRACT 6, at least once; `delivery.ChangelogWriter`):
1. links, announced identity_change and repartition records are sent and acknowledged;
2. only then the batch's changelog records are sent (after the previous batch's), and
   acknowledged;
3. only then the batch's input offsets may be committed (`Checkpoint`).
So the changelog never holds a change whose outputs were lost: after a crash the state read
back is at most as new as what was published, the uncommitted inputs are read again, and the
ones the state already holds change nothing (the registers are maxima) while the others publish
what was missing. A SIGKILLed worker thus ends with the same links as one that never stopped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import structlog
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from processor.kafka.checkpoint import Checkpoint, DeliveryError, InFlightBatch, commit_offsets
from processor.kafka.source import RebalanceListener, read_to_end
from processor.links.delivery import ChangelogRecord, ChangelogWriter
from processor.links.restore import ChangelogReader
from processor.links.sink import RecordSink
from processor.links.state import LinkState
from processor.links.topics import LinksError, LinkTopics, check_topics
from processor.links.topology import ROLE_HEADER, LinkOutput, LinksTopology
from schemas.settings import Settings

log = structlog.get_logger("processor.links")


class LinksStage:
    def __init__(
        self, settings: Settings, consumer: Any, producer: Any, *, stop_when_drained: bool = False
    ) -> None:
        self.settings = settings
        self.topics = LinkTopics.of(settings)
        self.consumer = consumer
        self.producer = producer
        self.reader = ChangelogReader(settings, self.topics.changelog)
        self.stop_when_drained = stop_when_drained
        self.topology = LinksTopology(partitions=1)
        #: In-memory state per repartition partition, and the changelog offset it reflects.
        self.states: dict[int, LinkState] = {}
        self.positions: dict[int, int] = {}
        self.checkpoint = Checkpoint()
        self.commits = 0
        self._sink = RecordSink(producer)
        self._changelog = ChangelogWriter(producer, self.topics.changelog, self._logged)
        self._destinations = {
            "repartition": self.topics.repartition,
            "links": self.topics.links,
            "identity": self.topics.identity,
        }
        self._unrestored: set[int] = set()
        self._assigned: set[TopicPartition] = set()
        self._stop = asyncio.Event()
        self._batch_lock = asyncio.Lock()

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        await self.producer.start()
        try:
            await self.reader.start()
            try:
                await self.consumer.start()
                try:
                    await self._check_topics()
                    self.consumer.subscribe(
                        [self.topics.identity, self.topics.repartition],
                        listener=RebalanceListener(self._on_revoked, self._on_assigned),
                    )
                    await self._loop()
                    await self._drain_and_commit()
                finally:
                    await self.consumer.stop()
            finally:
                await self.reader.stop()
        finally:
            await self.producer.stop()

    async def _check_topics(self) -> None:
        partitions = await check_topics(self.reader, self.topics)
        self.topology = LinksTopology(partitions=partitions)
        await self._sink.refresh_partitions(self._destinations.values())

    async def _loop(self) -> None:
        idle_since: float | None = None
        while not self._stop.is_set():
            await self._collect_and_commit()
            if self._unrestored:
                async with self._batch_lock:
                    await self._restore(set(self._unrestored))
            if self.checkpoint.records >= self.settings.max_inflight_records:
                await self.checkpoint.wait_oldest()
                continue
            batches = await self.consumer.getmany(
                timeout_ms=200, max_records=self.settings.max_batch_records
            )
            if batches:
                idle_since = None
                async with self._batch_lock:
                    await self._process(batches)
                continue
            now = time.monotonic()
            idle_since = idle_since or now
            if self.stop_when_drained and now - idle_since > 1.0 and await self._drained():
                return

    async def _process(self, batches: dict[TopicPartition, list[Any]]) -> None:
        assigned, topology = self.consumer.assignment(), self.topology
        offsets: dict[TopicPartition, int] = {}
        changelog: list[ChangelogRecord] = []
        count = size = 0
        for tp, messages in batches.items():
            if tp not in assigned:
                continue  # revoked while we waited for the lock: the new owner reads these
            if tp.topic == self.topics.identity:
                for message in messages:
                    self._add_all(topology.route(message.value))
            else:
                state = self.states.get(tp.partition)
                if state is None or tp.partition in self._unrestored:
                    # Fetched before its state was read back: read them again afterwards.
                    self.consumer.seek(tp, messages[0].offset)
                    continue
                for message in messages:
                    role = dict(message.headers).get(ROLE_HEADER)
                    outputs, records = topology.process(state, message.value, role)
                    self._add_all(outputs)
                    changelog += ((tp.partition, key, value) for key, value in records)
            offsets[tp] = messages[-1].offset + 1
            count += len(messages)
            size += sum(len(message.value or b"") for message in messages)
        if not offsets:
            return
        sent = await self._sink.flush()
        delivered = self._changelog.after([s.future for s in sent], changelog)
        self.checkpoint.add(InFlightBatch(offsets, [delivered], count, size))

    def _add_all(self, outputs: Iterable[LinkOutput]) -> None:
        for out in outputs:
            topic = self._destinations[out.destination]
            self._sink.add(topic, out.key, out.value, out.headers, out.partition)

    # -- commits and failures ----------------------------------------------------------------

    async def _collect_and_commit(self, force: bool = False) -> None:
        try:
            self.checkpoint.collect()
        except DeliveryError as failure:
            if not failure.retriable:
                raise LinksError(
                    f"an output was refused by the broker and will not be retried: "
                    f"{failure.cause!r}"
                ) from failure.cause
            log.warning("output not delivered, reading state back", error=repr(failure.cause))
            async with self._batch_lock:
                await self._rewind()
            return
        await self._commit(self.checkpoint.due(force))

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        offsets = {tp: o for tp, o in offsets.items() if tp in self._assigned}
        if offsets and await commit_offsets(self.consumer, offsets, self.checkpoint) is None:
            self.commits += 1

    async def _settle(self, limit_s: float) -> bool:
        """Wait for in-flight batches, commit what was delivered; True when all were."""
        settled = await self.checkpoint.settle(limit_s)
        try:
            self.checkpoint.collect()
        except DeliveryError as failure:
            log.warning("outputs not delivered", error=repr(failure.cause))
            settled = False
        await self._commit(self.checkpoint.take())
        for batch in self.checkpoint.in_flight:
            for future in batch.futures:
                future.cancel()  # a changelog write after this point could race a new owner
        self.checkpoint.clear()
        self._sink.discard()
        self._changelog.reset()
        return settled

    async def _rewind(self) -> None:
        """After a failed delivery the memory may hold changes never published: read the
        state back from the changelog and the inputs again from the last delivered offsets."""
        await self._settle(self.settings.shutdown_timeout_s)
        self.states.clear()
        self.positions.clear()
        await asyncio.sleep(1.0)
        assignment = self.consumer.assignment()
        await self._restore({tp.partition for tp in assignment if self._is_state(tp)})
        for tp in assignment:
            position = self.checkpoint.acked.get(tp) or await self.consumer.committed(tp)
            if position is None:
                await self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, position)

    async def _drain_and_commit(self) -> None:
        async with self._batch_lock:
            if not await self._settle(self.settings.shutdown_timeout_s):
                raise LinksError("outputs still unacknowledged at shutdown; not committed")

    # -- rebalances and state ----------------------------------------------------------------

    def _is_state(self, tp: TopicPartition) -> bool:
        return bool(tp.topic == self.topics.repartition)

    def _logged(self, partition: int, end: int) -> None:
        if partition in self.states:
            self.positions[partition] = end

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self._batch_lock:
            if not await self._settle(min(self.settings.shutdown_timeout_s, 10.0)):
                # Memory may be ahead of the changelog: read every partition back next time.
                self.states.clear()
                self.positions.clear()
            self._assigned -= revoked
            self._unrestored -= {tp.partition for tp in revoked if self._is_state(tp)}
            for tp in revoked:
                self.checkpoint.acked.pop(tp, None)
        log.info("partitions revoked", partitions=_names(revoked))

    async def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        async with self._batch_lock:
            self._assigned = set(assigned)
            mine = {tp.partition for tp in assigned if self._is_state(tp)}
            self._unrestored &= mine
            for partition in set(self.states) - mine:
                # Kept while this worker might get it back; now someone else owns it.
                del self.states[partition]
                self.positions.pop(partition, None)
            await self._sink.refresh_partitions(self._destinations.values())
            await self._restore(mine)
        log.info("partitions assigned", partitions=_names(assigned))

    async def _restore(self, partitions: set[int]) -> None:
        """Read `partitions` back; on failure they stay paused and the loop tries again."""
        self._unrestored |= partitions
        tps = [TopicPartition(self.topics.repartition, p) for p in sorted(partitions)]
        self.consumer.pause(*tps)
        starts: dict[int, int | None] = {
            p: self.positions.get(p) if p in self.states else None for p in partitions
        }
        fresh = {p: self.states.get(p) or LinkState() for p in partitions}
        try:
            ends = await self.reader.restore(fresh, starts)
        except (KafkaError, TimeoutError) as exc:
            for p in partitions:
                self.states.pop(p, None)  # half read: start over next time
            log.error("changelog not read back, will retry", error=repr(exc))
            await asyncio.sleep(1.0)
            return
        self.states.update(fresh)
        self.positions.update(ends)
        self._unrestored -= partitions
        self.consumer.resume(*tps)

    async def _drained(self) -> bool:
        """Burst mode: every assigned partition read to its end, everything committed."""
        if (
            self.checkpoint.in_flight
            or self.checkpoint.committable
            or self._unrestored
            or not self._assigned
        ):
            return False
        return await read_to_end(self.consumer, self._assigned)


def _names(tps: set[TopicPartition]) -> list[str]:
    return sorted(f"{tp.topic}:{tp.partition}" for tp in tps)
