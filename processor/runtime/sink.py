"""Publish a stage's outputs with the producer's batch API.

`add` only buffers, per destination partition (by key with the Java partitioner, or the
partition a stage chose: repartition copies, changelog records). `flush` turns the buffers into
record batches and returns one `Sent` per batch, whose future resolves on broker ack. Per-key
order holds: a key always lands on the same partition, appended in processing order, and
aiokafka keeps one batch per partition in flight at a time.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from processor.core.partitioner import partition_for
from processor.core.records import Headers, OutputRecord, Route


class Outgoing(Protocol):
    """What the sink publishes: the pipeline's `OutputRecord` or a stage's `Record`."""

    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Headers: ...


class Record(msgspec.Struct, frozen=True, gc=False):
    """A record a stage publishes; value None is a tombstone."""

    key: bytes | None
    value: bytes | None
    headers: Headers = msgspec.field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Sent:
    """One batch handed to the producer: its future resolves to the batch's RecordMetadata."""

    topic: str
    partition: int
    records: int
    future: asyncio.Future[Any]


class Sink:
    def __init__(self, producer: Any) -> None:
        self._producer = producer
        self._partitions: dict[str, int] = {}
        self._pending: defaultdict[tuple[str, int], list[Outgoing]] = defaultdict(list)
        self._round_robin = 0
        self.pending = 0

    async def learn(self, topics: Iterable[str]) -> dict[str, int]:
        """Learn each topic's partition count (at start and after every rebalance)."""
        for topic in set(topics):
            self._partitions[topic] = len(await self._producer.partitions_for(topic))
        return dict(self._partitions)

    def add(self, topic: str, record: Outgoing, partition: int | None = None) -> None:
        if partition is None:
            count = self._partitions[topic]
            if record.key is None:
                # Keyless records (dead letters of keyless inputs) spread over the partitions.
                self._round_robin += 1
                partition = self._round_robin % count
            else:
                partition = partition_for(record.key, count)
        self._pending[(topic, partition)].append(record)
        self.pending += 1

    def emitter(self, topics: Mapping[Route, str]) -> Callable[[OutputRecord], None]:
        """The pipeline's `emit`: route to the topic, partition by key, buffer."""
        partitions, pending = self._partitions, self._pending

        def emit(output: OutputRecord) -> None:
            topic = topics[output.route]
            if output.key is None:
                self.add(topic, output)
                return
            pending[(topic, partition_for(output.key, partitions[topic]))].append(output)
            self.pending += 1

        return emit

    async def flush(self) -> list[Sent]:
        """Hand every buffered record to the producer; one `Sent` per record batch."""
        producer = self._producer
        sent: list[Sent] = []
        for (topic, partition), records in self._pending.items():
            batch, count = producer.create_batch(), 0
            for record in records:
                key, value, headers = record.key, record.value, record.headers
                if batch.append(timestamp=None, key=key, value=value, headers=headers) is None:
                    future = await _send(producer, batch, topic, partition)
                    sent.append(Sent(topic, partition, count, future))
                    batch, count = producer.create_batch(), 0
                    # An empty batch always takes one record, however large.
                    batch.append(timestamp=None, key=key, value=value, headers=headers)
                count += 1
            future = await _send(producer, batch, topic, partition)
            sent.append(Sent(topic, partition, count, future))
        self.discard()
        return sent

    def discard(self) -> None:
        """Forget buffered records (their inputs will be read again after a rewind)."""
        self._pending.clear()
        self.pending = 0


async def _send(producer: Any, batch: Any, topic: str, partition: int) -> asyncio.Future[Any]:
    # Closed: a whole batch never waits `linger_ms` for records that will not come (linger
    # is for single sends), and no `send()` elsewhere can slip a record into it.
    batch.close()
    future: asyncio.Future[Any] = await producer.send_batch(batch, topic, partition=partition)
    return future
