"""Publish pipeline outputs with the producer's batch API.

`add` is the pipeline's `emit`: it only routes (topic by route, partition by key) and buffers.
`flush` turns the buffers into record batches, one per destination partition, and returns the
delivery futures the checkpoint waits for. Per-key order holds: the same key always lands on
the same partition, appended in processing order, and aiokafka keeps one batch per partition
in flight at a time.
"""

from __future__ import annotations

import asyncio
import struct
from collections import defaultdict
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from aiokafka import AIOKafkaProducer

from processor.core.records import OutputRecord, Route
from processor.kafka.client_config import connection_kwargs
from schemas.settings import Settings

_WORDS = struct.Struct("<I").iter_unpack
_M = 0x5BD1E995


def murmur2(data: bytes) -> int:
    """The Java client's murmur2 (Utils.murmur2), as aiokafka's, reading 4-byte words with
    `struct` instead of byte by byte: about twice as fast; the unit test pins equality."""
    length = len(data)
    h = 0x9747B28C ^ length
    end = length & ~3
    for (word,) in _WORDS(data[:end]):
        k = (word * _M) & 0xFFFFFFFF
        k = ((k ^ (k >> 24)) * _M) & 0xFFFFFFFF
        h = ((h * _M) & 0xFFFFFFFF) ^ k
    extra = length & 3
    if extra == 3:
        h ^= data[end + 2] << 16
    if extra >= 2:
        h ^= data[end + 1] << 8
    if extra:
        h = ((h ^ data[end]) * _M) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * _M) & 0xFFFFFFFF
    return h ^ (h >> 15)


@lru_cache(maxsize=131_072)
def partition_for(key: bytes, partitions: int) -> int:
    """The Java client's partition for `key`, so other producers and Kafka Streams agree.

    Cached: murmur2 is pure Python and keys (customers) recur.
    """
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class OutputSink:
    def __init__(self, producer: Any, topics: Mapping[Route, str]) -> None:
        self._producer = producer
        self.topics = dict(topics)
        self._partitions: dict[str, int] = {}
        self._pending: defaultdict[tuple[str, int], list[OutputRecord]] = defaultdict(list)
        self._round_robin = 0
        self.pending_records = 0

    async def refresh_partitions(self) -> None:
        """Learn each output topic's partition count (at start and after every rebalance)."""
        for topic in set(self.topics.values()):
            self._partitions[topic] = len(await self._producer.partitions_for(topic))

    def add(self, output: OutputRecord) -> None:
        topic = self.topics[output.route]
        count = self._partitions[topic]
        if output.key is None:
            # Keyless records (dead letters of keyless inputs) spread over the partitions.
            self._round_robin += 1
            partition = self._round_robin % count
        else:
            partition = partition_for(output.key, count)
        self._pending[(topic, partition)].append(output)
        self.pending_records += 1

    async def flush(self) -> list[asyncio.Future[Any]]:
        """Hand every buffered output to the producer; the futures resolve on broker ack."""
        producer = self._producer
        futures: list[asyncio.Future[Any]] = []
        for (topic, partition), outputs in self._pending.items():
            batch = producer.create_batch()
            for output in outputs:
                if (
                    batch.append(
                        timestamp=None, key=output.key, value=output.value, headers=output.headers
                    )
                    is None
                ):
                    futures.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    # An empty batch always takes one record, however large.
                    batch.append(
                        timestamp=None, key=output.key, value=output.value, headers=output.headers
                    )
            futures.append(await producer.send_batch(batch, topic, partition=partition))
        self._pending.clear()
        self.pending_records = 0
        return futures

    def discard(self) -> None:
        """Forget buffered outputs (their inputs will be read again after a rewind)."""
        self._pending.clear()
        self.pending_records = 0


def make_producer(settings: Settings, **overrides: Any) -> Any:
    kwargs: dict[str, Any] = {
        **connection_kwargs(settings),
        # Every in-sync replica must have an output before its input offset is committed.
        "acks": "all",
        # Dead letters carry bodies up to Meta's 3 MB limit plus headers.
        "max_request_size": 5 * 1024 * 1024,
        "max_batch_size": 512 * 1024,
        "linger_ms": 0,
    }
    kwargs.update(overrides)
    return AIOKafkaProducer(**kwargs)
