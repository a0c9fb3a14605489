"""The baseline of `bench.py`: the fastest bare aiokafka passthrough we could write.

Run as a subprocess by `bench.py` (so its CPU and RSS are its own):

    python bench/_baseline.py BOOTSTRAP RAW_TOPIC OUT_TOPIC GROUP EXPECTED SESSION_MS

Per record it does the least a real consumer must do: decode the value with a typed msgspec
decoder (the whole JSON is parsed and validated, only one field is kept), encode a small
JSON envelope embedding the body (`msgspec.Raw`: copied, not re-serialized), and produce it
with the batch API, one batch per output partition. Offsets are committed `{tp: offset + 1}`
only after the acks, in read order, at most every 200 ms like the worker, so the bench can
time both the same way (from committed offsets). Produce and fetch overlap (a bounded window
of in-flight batches), as in the worker: waiting for acks before the next fetch would be a
strawman.

The client settings are the worker's (`make_consumer`/`make_producer`): same fetch sizes,
`acks=all`, `linger_ms=0`, 5000 records per `getmany`, so the difference between the two
runs is the processing, not the tuning. Exits 0 once EXPECTED records are consumed,
acknowledged and committed; prints one JSON line with its counters on stdout.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import deque
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

COMMIT_INTERVAL_S = 0.2  # processor.runtime.checkpoint.COMMIT_INTERVAL_S
MAX_BATCH_RECORDS = 5000  # the worker's default max_batch_records
MAX_INFLIGHT_RECORDS = 50_000  # the worker's default max_inflight_records


class View(msgspec.Struct):
    """The one field we keep: decoding into it still parses and validates every byte."""

    object: str = ""


class Passthrough(msgspec.Struct):
    kind: str
    body: msgspec.Raw


_decode = msgspec.json.Decoder(View).decode
_encode = msgspec.json.Encoder().encode


def transform(value: bytes) -> bytes:
    """Decode + encode one record; invalid JSON passes through as is (no dead-letter topic)."""
    try:
        view = _decode(value)
    except msgspec.DecodeError:
        return value
    return _encode(Passthrough(view.object, msgspec.Raw(value)))


class InFlight:
    __slots__ = ("futures", "offsets", "records")

    def __init__(
        self, offsets: dict[TopicPartition, int], futures: list[asyncio.Future[Any]], records: int
    ) -> None:
        self.offsets = offsets
        self.futures = futures
        self.records = records


async def passthrough(
    bootstrap: str, raw_topic: str, out_topic: str, group: str, expected: int, session_ms: int
) -> dict[str, int]:
    consumer = AIOKafkaConsumer(
        raw_topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=session_ms,
        heartbeat_interval_ms=500,
        max_poll_interval_ms=300_000,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        max_request_size=5 * 1024 * 1024,
        max_batch_size=512 * 1024,
        linger_ms=0,
    )
    await producer.start()
    await consumer.start()
    consumed = produced = commits = 0
    window: deque[InFlight] = deque()
    in_flight_records = 0
    committable: dict[TopicPartition, int] = {}
    last_commit = 0.0
    try:
        while True:
            # Acknowledged head batches become committable, in read order.
            while window and all(f.done() for f in window[0].futures):
                head = window.popleft()
                for future in head.futures:
                    future.result()  # a delivery failure ends the baseline loudly
                in_flight_records -= head.records
                committable.update(head.offsets)
            finished = consumed >= expected and not window
            now = time.monotonic()
            if committable and (finished or now - last_commit >= COMMIT_INTERVAL_S):
                await consumer.commit(committable)
                committable = {}
                last_commit = now
                commits += 1
            if finished:
                break
            if consumed >= expected or in_flight_records >= MAX_INFLIGHT_RECORDS:
                await asyncio.wait(window[0].futures)
                continue
            batches = await consumer.getmany(timeout_ms=200, max_records=MAX_BATCH_RECORDS)
            if not batches:
                continue
            offsets: dict[TopicPartition, int] = {}
            futures: list[asyncio.Future[Any]] = []
            count = 0
            for tp, messages in batches.items():
                # Same partition out as in: per-key order without hashing keys.
                batch = producer.create_batch()
                for message in messages:
                    value = transform(message.value or b"")
                    headers = list(message.headers)  # the batch builder wants a list
                    if (
                        batch.append(key=message.key, value=value, timestamp=None, headers=headers)
                        is None
                    ):
                        futures.append(
                            await producer.send_batch(batch, out_topic, partition=tp.partition)
                        )
                        batch = producer.create_batch()
                        batch.append(key=message.key, value=value, timestamp=None, headers=headers)
                futures.append(await producer.send_batch(batch, out_topic, partition=tp.partition))
                offsets[tp] = messages[-1].offset + 1
                count += len(messages)
            consumed += count
            produced += count
            window.append(InFlight(offsets, futures, count))
            in_flight_records += count
    finally:
        await consumer.stop()
        await producer.stop()
    return {"consumed": consumed, "produced": produced, "commits": commits}


def main(argv: list[str]) -> int:
    bootstrap, raw_topic, out_topic, group, expected, session_ms = argv
    counters = asyncio.run(
        passthrough(bootstrap, raw_topic, out_topic, group, int(expected), int(session_ms))
    )
    print(msgspec.json.encode(counters).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
