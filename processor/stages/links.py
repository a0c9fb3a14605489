"""`links run`'s handler: one consumer group over the identity topic and the repartition topic.

Like a Kafka Streams application with two sub-topologies: identity records are re-keyed onto
the repartition topic (`LinksTopology.route`); repartition records update the state of their
partition (`LinksTopology.process`), whose changelog records are after-records: published only
once the batch's links are (at-least-once), or in the same transaction (exactly-once). So the
changelog never holds a change whose outputs were lost: after a crash the state read back is
at most as new as what was published, and the uncommitted inputs read again change nothing
the state already holds (its registers are maxima) while publishing what was missing.

State per repartition partition is read back from the changelog partition of the same number
on assignment (only what others wrote since, for a partition this member kept in memory), and
after lost outputs. A partition not yet read back is paused; its records are read again later.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import structlog
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from processor.links.state import LinkState
from processor.links.topology import ROLE_HEADER, LinkOutput, LinksTopology
from processor.ops.health import StageHealth
from processor.runtime.errors import StageError
from processor.runtime.handler import Handler, Outputs
from processor.runtime.reader import PartitionReader
from processor.runtime.sink import Record
from processor.runtime.topics import links_topic_specs
from schemas.settings import Settings

log = structlog.get_logger("processor.links")


class LinksHandler(Handler):
    feeds_itself = True

    def __init__(self, settings: Settings, consumer: Any, health: StageHealth) -> None:
        links, repartition, changelog = (spec.name for spec in links_topic_specs(settings))
        self.identity, self.links, self.repartition, self.changelog = (
            settings.identity_topic,
            links,
            repartition,
            changelog,
        )
        self.inputs = (self.identity, repartition)
        self.consumer = consumer
        self.health = health
        self.reader = PartitionReader(settings, changelog, settings.links_restore_timeout_s)
        self.topology = LinksTopology(partitions=1)
        #: In-memory state per repartition partition, and the changelog offset it reflects.
        self.states: dict[int, LinkState] = {}
        self.positions: dict[int, int] = {}
        self.unrestored: set[int] = set()
        #: Records read per input topic (the metrics; outputs: `topology.stats.outputs`).
        self.records_in: Counter[str] = Counter()
        self._destinations = {"repartition": repartition, "links": links, "identity": self.identity}

    def outputs(self) -> set[str]:
        return {self.repartition, self.links, self.identity, self.changelog}

    async def prepare(self) -> None:
        await self.reader.start()
        repartition = await self.reader.partition_count(self.repartition)
        changelog = await self.reader.partition_count(self.changelog)
        if repartition != changelog:
            raise StageError(
                f"{self.changelog} has {changelog} partitions, "
                f"{self.repartition} has {repartition}: they must be equal"
            )
        self.topology = LinksTopology(partitions=repartition)

    def process(self, tp: TopicPartition, messages: list[Any], out: Outputs) -> int | None:
        topology, add = self.topology, self._adder(out)
        self.records_in[tp.topic] += len(messages)
        if tp.topic == self.identity:
            for message in messages:
                add(topology.route(message.value))
            return sum(len(message.value or b"") for message in messages)
        state = self.states.get(tp.partition)
        if state is None or tp.partition in self.unrestored:
            self.records_in[tp.topic] -= len(messages)
            return None
        for message in messages:
            role = dict(message.headers).get(ROLE_HEADER)
            outputs, records = topology.process(state, message.value, role)
            add(outputs)
            out.after += [(self.changelog, tp.partition, Record(k, v)) for k, v in records]
        return sum(len(message.value or b"") for message in messages)

    def _adder(self, out: Outputs) -> Any:
        sink, destinations = out.sink, self._destinations

        def add(outputs: list[LinkOutput]) -> None:
            for output in outputs:
                sink.add(destinations[output.destination], output, output.partition)

        return add

    def _mine(self, partitions: set[TopicPartition]) -> set[int]:
        return {tp.partition for tp in partitions if tp.topic == self.repartition}

    async def assigned(self, partitions: set[TopicPartition]) -> None:
        mine = self._mine(partitions)
        self.unrestored &= mine
        for partition in set(self.states) - mine:
            # Kept while this member might get it back; now someone else owns it.
            del self.states[partition]
            self.positions.pop(partition, None)
        await self._restore(mine)

    async def revoked(self, partitions: set[TopicPartition], delivered: bool) -> None:
        if not delivered:
            # Memory may be ahead of the changelog: read every partition back next time.
            self.states.clear()
            self.positions.clear()
        self.unrestored -= self._mine(partitions)

    async def rewound(self, partitions: set[TopicPartition]) -> None:
        mine = self._mine(partitions)
        for partition in mine:
            self.states.pop(partition, None)
            self.positions.pop(partition, None)
        await self._restore(mine)

    def logged(self, topic: str, partition: int, end: int) -> None:
        if topic == self.changelog and partition in self.states:
            self.positions[partition] = end

    async def tick(self) -> None:
        if self.unrestored:
            await self._restore(set(self.unrestored))

    def settled(self) -> bool:
        return not self.unrestored

    async def _restore(self, partitions: set[int]) -> None:
        """Read `partitions` back; on failure they stay paused and `tick` tries again."""
        self.unrestored |= partitions
        self.health.loaded["state_restored"] = not self.unrestored
        if not partitions:
            return
        tps = [TopicPartition(self.repartition, p) for p in sorted(partitions)]
        self.consumer.pause(*tps)
        starts = {p: self.positions.get(p) if p in self.states else None for p in partitions}
        fresh = {p: self.states.get(p) or LinkState() for p in partitions}
        ends: dict[int, int] = {}
        try:
            records = 0
            async for message in self.reader.read(starts, ends):
                fresh[message.partition].restore(message.key, message.value)
                records += 1
        except (KafkaError, TimeoutError) as exc:
            for p in partitions:
                self.states.pop(p, None)  # half read: start over next time
            log.error("changelog not read back, will retry", error=repr(exc))
            await asyncio.sleep(1.0)
            return
        self.states.update(fresh)
        self.positions.update(ends)
        self.unrestored -= partitions
        self.health.loaded["state_restored"] = not self.unrestored
        self.consumer.resume(*tps)
        log.info(
            "link state restored",
            partitions=sorted(partitions),
            from_start=sorted(p for p, start in starts.items() if start is None),
            records=records,
        )

    def summary(self) -> dict[str, Any]:
        stats = self.topology.stats
        return {
            "routed": stats.routed,
            "processed": stats.processed,
            "link_records": stats.link_records,
            "tombstones": stats.tombstones,
            "rotations": stats.rotations,
            "skips": dict(stats.skips),
            "links": sum(len(state.phones) for state in self.states.values()),
        }

    async def close(self) -> None:
        await self.reader.stop()
