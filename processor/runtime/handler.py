"""What a stage plugs into the runtime: its handler, and the outputs a handler writes to.

The stage loop (`runtime.stage`) owns Kafka: polling, backpressure, rebalances, commits,
drain, burst mode and the broker-loss guards. A handler owns the work: it turns one polled
batch of one input partition into output records, and keeps whatever state that needs. The
identity pipeline and the links step are the two handlers (`processor.stages`).

`Handler` gives every hook a no-op default, so a stateless handler writes only `process`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka.structs import TopicPartition

from processor.runtime.sink import Record, Sink

#: A record published only once the batch's other outputs are acknowledged (at-least-once),
#: or in the same transaction (exactly-once): (topic, partition, record).
AfterRecord = tuple[str, int, Record]


@dataclass
class Outputs:
    """Where a handler writes a batch's outputs, given by the delivery per input partition."""

    sink: Sink
    #: Records that must never be visible without the batch's other outputs: a state
    #: changelog. At-least-once sends them after those are acknowledged, in batch order.
    after: list[AfterRecord] = field(default_factory=list)

    def take_after(self) -> list[AfterRecord]:
        records, self.after = self.after, []
        return records

    def discard(self) -> None:
        self.sink.discard()
        self.after.clear()


class Handler:
    """Base of every stage's handler; override what the stage needs."""

    #: Topics the stage reads; the group shares out their partitions.
    inputs: Sequence[str] = ()
    #: The stage writes to one of its own inputs (links: the repartition topic). Burst mode
    #: then waits until the whole group, not only this member, has read everything.
    feeds_itself: bool = False

    def outputs(self) -> set[str]:
        """Topics the stage writes: required at start, watched for loss while it runs."""
        return set()

    def required(self) -> set[str]:
        """Other topics that must exist before the stage starts (a control topic, say)."""
        return set()

    async def prepare(self) -> None:
        """Before subscribing: check topics, start side clients."""

    async def load(self) -> None:
        """After subscribing and before the first poll (runs while the group join goes on)."""

    def process(self, tp: TopicPartition, messages: list[Any], out: Outputs) -> int | None:
        """Process one partition's polled records into `out`; return the bytes read, or None
        when the partition cannot be processed yet (the records are read again later)."""
        raise NotImplementedError

    async def assigned(self, partitions: set[TopicPartition]) -> None:
        """Partitions handed to this member (state to read back, say). Under the batch lock."""

    async def revoked(self, partitions: set[TopicPartition], delivered: bool) -> None:
        """Partitions taken away; `delivered` is False when outputs since the last commit may
        be lost (state held in memory may then be ahead of what was published)."""

    async def rewound(self, partitions: set[TopicPartition]) -> None:
        """Outputs since the last commit of these partitions were lost and their records will
        be read again: forget state built from them."""

    def logged(self, topic: str, partition: int, end: int) -> None:
        """An after-record batch was acknowledged: `topic`/`partition` holds it up to `end`."""

    async def tick(self) -> None:
        """Once per turn of the loop while not `settled`, under the batch lock (retry a failed
        restore, say)."""

    def settled(self) -> bool:
        """Nothing pending in the handler (burst mode's "drained" needs it)."""
        return True

    def summary(self) -> dict[str, Any]:
        """Counts for the periodic and the final log line."""
        return {}

    async def close(self) -> None:
        """Stop side clients."""
