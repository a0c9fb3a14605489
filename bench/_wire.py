"""Bytes on the wire: the record batches a topic holds, as the broker serves them to a fetch.

A produced batch is stored and fetched as is (the broker keeps the producer's codec), so the
size of the batches is what crossed the network from the producer and what every consumer
fetches again. Read with raw Fetch requests (aiokafka's consumer would decompress them) from
offset 0 to the high watermark, the same on Apache Kafka and on Tansu.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from aiokafka import AIOKafkaClient
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.structs import TopicPartition

FETCH_BYTES = 16 * 1024 * 1024
#: Record batch v2 header: baseOffset, batchLength, (leader epoch, magic, crc), attributes,
#: lastOffsetDelta, ... recordsCount (KIP-98 layout).
_HEAD = struct.Struct(">qi")
CONTROL_BIT = 0x20


@dataclass
class WireSize:
    batches: int = 0
    records: int = 0
    bytes: int = 0

    def add(self, other: WireSize) -> None:
        self.batches += other.batches
        self.records += other.records
        self.bytes += other.bytes


def _batches(data: bytes, size: WireSize) -> int | None:
    """Count the complete batches in `data`; the next offset to fetch (None: none complete)."""
    position, next_offset = 0, None
    while position + 61 <= len(data):
        base, length = _HEAD.unpack_from(data, position)
        end = position + 12 + length
        if end > len(data):
            break  # a batch cut off by the fetch size: fetched again from its start
        (attributes,) = struct.unpack_from(">h", data, position + 21)
        (last_delta,) = struct.unpack_from(">i", data, position + 23)
        (count,) = struct.unpack_from(">i", data, position + 57)
        if not attributes & CONTROL_BIT:  # transaction markers are not outputs
            size.batches += 1
            size.records += count
            size.bytes += 12 + length
        next_offset = base + last_delta + 1
        position = end
    return next_offset


async def topic_wire_size(bootstrap_servers: str, topic: str) -> WireSize:
    client = AIOKafkaClient(bootstrap_servers=bootstrap_servers)
    await client.bootstrap()
    total = WireSize()
    try:
        await client._wait_on_metadata(topic)
        for partition in sorted(client.cluster.partitions_for_topic(topic) or ()):
            leader = client.cluster.leader_for_partition(TopicPartition(topic, partition))
            offset = 0
            while True:
                request = FetchRequest(
                    100, 1, FETCH_BYTES, 0, [(topic, [(partition, offset, FETCH_BYTES)])]
                )
                response = await client.send(leader, request)
                fields = response.topics[0][1][0]
                highwater, data = fields[2], fields[-1] or b""
                part = WireSize()
                next_offset = _batches(data, part)
                total.add(part)
                if next_offset is None or next_offset >= highwater:
                    break
                offset = next_offset
    finally:
        await client.close()
    return total
