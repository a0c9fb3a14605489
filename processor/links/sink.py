"""Send the links stage's records with the producer's batch API, to explicit partitions.

Like `processor.kafka.sink.OutputSink` (per-key order, Java partitioning), plus what that sink
has no need for: records sent to a partition chosen by the stage (repartition copies, changelog
records: the changelog partition is the state's partition, as in Kafka Streams) and tombstones.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from processor.core.records import Headers
from processor.kafka.sink import partition_for

_Record = tuple[bytes | None, bytes | None, Headers]  # key, value (None: tombstone), headers


@dataclass(frozen=True, slots=True)
class Sent:
    """One batch handed to the producer: its future resolves to the batch's RecordMetadata."""

    topic: str
    partition: int
    records: int
    future: asyncio.Future[Any]


class RecordSink:
    def __init__(self, producer: Any) -> None:
        self._producer = producer
        self._partitions: dict[str, int] = {}
        self._pending: defaultdict[tuple[str, int], list[_Record]] = defaultdict(list)

    async def refresh_partitions(self, topics: Iterable[str]) -> dict[str, int]:
        for topic in topics:
            self._partitions[topic] = len(await self._producer.partitions_for(topic))
        return dict(self._partitions)

    def add(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        partition: int | None = None,
    ) -> None:
        if partition is None:
            assert key is not None  # every record of the links stage has a key
            partition = partition_for(key, self._partitions[topic])
        self._pending[(topic, partition)].append((key, value, headers))

    @property
    def pending(self) -> int:
        return sum(len(records) for records in self._pending.values())

    async def flush(self) -> list[Sent]:
        """Hand every buffered record to the producer; one `Sent` per batch."""
        producer = self._producer
        sent: list[Sent] = []
        for (topic, partition), records in self._pending.items():
            batch, count = producer.create_batch(), 0
            for key, value, headers in records:
                if batch.append(timestamp=None, key=key, value=value, headers=headers) is None:
                    future = await producer.send_batch(batch, topic, partition=partition)
                    sent.append(Sent(topic, partition, count, future))
                    batch, count = producer.create_batch(), 0
                    # An empty batch always takes one record, however large.
                    batch.append(timestamp=None, key=key, value=value, headers=headers)
                count += 1
            future = await producer.send_batch(batch, topic, partition=partition)
            sent.append(Sent(topic, partition, count, future))
        self._pending.clear()
        return sent

    def discard(self) -> None:
        self._pending.clear()
