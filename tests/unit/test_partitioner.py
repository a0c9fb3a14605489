"""Output partitioning agrees with the Java client (and so with aiokafka's own murmur2)."""

from __future__ import annotations

import random

import aiokafka.partitioner

from processor.core.partitioner import murmur2, partition_for


def test_murmur2_matches_aiokafka() -> None:
    rnd = random.Random(1)
    for _ in range(5000):
        key = rnd.randbytes(rnd.randrange(0, 90))
        assert murmur2(key) == aiokafka.partitioner.murmur2(key)


def test_partition_for_is_the_java_clients_partition() -> None:
    # Values the Java client's DefaultPartitioner gives (murmur2, positive, modulo).
    for key in (b"acme/US.7301846620193748112", b"acme/+14155550123", b"", b"a"):
        expected = (aiokafka.partitioner.murmur2(key) & 0x7FFFFFFF) % 6
        assert partition_for(key, 6) == expected
