"""A few raw Kafka protocol requests on a blocking socket: tiny, and no client to tear down.

Readiness and leadership checks of the brokers we start use these, from sync and async code
alike. Metadata v4 works on Kafka 4 (which dropped v0-v3) and on Tansu.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def num(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return int(value)

    def string(self) -> str:
        size = self.num(">h")  # -1 (null) reads as ""
        text = self.data[self.pos : self.pos + max(size, 0)].decode()
        self.pos += max(size, 0)
        return text

    def ints(self) -> list[int]:
        return [self.num(">i") for _ in range(self.num(">i"))]


def _request(address: str, api_key: int, version: int, body: bytes, timeout_s: float) -> _Reader:
    """Send one request and return a reader past the response header."""
    host, port = address.rsplit(":", 1)
    flexible = api_key == 55  # DescribeQuorum has only flexible versions; Metadata v4 is not
    client = b"bsuid-probe"
    header = struct.pack(">hhih", api_key, version, 1, len(client)) + client
    payload = header + (b"\x00" if flexible else b"") + body  # b"\x00": no tagged fields
    with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
        sock.sendall(struct.pack(">i", len(payload)) + payload)
        reply = sock.makefile("rb")
        (size,) = struct.unpack(">i", reply.read(4))
        data = reply.read(size)
    if len(data) != size:
        raise ConnectionError(f"short reply from {address}")
    reader = _Reader(data)
    reader.pos = 5 if flexible else 4  # correlation id (+ empty tagged fields)
    return reader


@dataclass(frozen=True)
class PartitionState:
    leader: int  # -1 while no leader is elected
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


@dataclass(frozen=True)
class ClusterMetadata:
    broker_ids: frozenset[int]  # brokers the cluster serves from (registered and unfenced)
    partitions: dict[tuple[str, int], PartitionState]


def probe_metadata(address: str, timeout_s: float = 2.0) -> ClusterMetadata:
    """Metadata v4 for all topics (Kafka 4 dropped v0-v3; Tansu answers v4 too)."""
    reader = _request(address, 3, 4, struct.pack(">ib", -1, 0), timeout_s)
    reader.num(">i")  # throttle time
    brokers = set()
    for _ in range(reader.num(">i")):
        brokers.add(reader.num(">i"))
        reader.string(), reader.num(">i"), reader.string()  # host, port, rack
    reader.string(), reader.num(">i")  # cluster id; controller id (a random broker in KRaft)
    partitions: dict[tuple[str, int], PartitionState] = {}
    for _ in range(reader.num(">i")):
        reader.num(">h")
        topic = reader.string()
        reader.num(">b")  # is_internal
        for _ in range(reader.num(">i")):
            reader.num(">h")
            index, leader = reader.num(">i"), reader.num(">i")
            replicas, isr = tuple(reader.ints()), tuple(reader.ints())
            partitions[topic, index] = PartitionState(leader, replicas, isr)
    return ClusterMetadata(frozenset(brokers), partitions)


def quorum_leader(address: str, timeout_s: float = 2.0) -> int:
    """The active KRaft controller, from DescribeQuorum v0 on __cluster_metadata-0."""
    name = b"__cluster_metadata"
    topic = bytes([len(name) + 1]) + name + b"\x02" + struct.pack(">i", 0) + b"\x00\x00"
    reader = _request(address, 55, 0, b"\x02" + topic + b"\x00", timeout_s)
    reader.num(">h"), reader.num(">b")  # error code; topic count (one byte varint)
    name_size = reader.num(">b") - 1  # the topic name, a compact string
    reader.pos += name_size
    reader.num(">b"), reader.num(">i"), reader.num(">h")  # partition count, index, error
    return reader.num(">i")


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, struct.error):
            pass  # not listening yet, or a broker still starting drops the request
        time.sleep(0.1)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
