"""The fair baseline of `bench.py`: a bare aiokafka loop running the product's own pipeline.

Run as a subprocess by `bench.py` (so its CPU and RSS are its own):

    python bench/_pipeline_loop.py BOOTSTRAP RAW_TOPIC GROUP EXPECTED SESSION_MS NUMBERS \
        IDENTITY_TOPIC DROPPED_TOPIC DLQ_TOPIC

An outside harness, written as plainly as a team would write it without the stage runtime:
getmany -> `Pipeline.process_batch` for each partition's records (the worker's entry point) ->
outputs buffered per (topic, partition) (Java partitioner by key) -> the batch API -> commit
`{tp: offset + 1}` after the acks, in read order, at most every 200 ms, with a bounded window of
batches in flight. It has no
rebalance handling, no broker-loss guards, no probes, no metrics and no dead-lettering of
pipeline bugs: the worker against this loop is the cost of the runtime (plumbing), and this
loop against the passthrough (`_baseline.py`) is the cost of the per-record work.
Exits 0 once EXPECTED records are consumed, acknowledged and committed; prints one JSON line.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import defaultdict, deque
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from processor.core.partitioner import partition_for
from processor.core.records import InputRecord, OutputRecord
from processor.settings import build_pipeline, load_registry, load_settings

COMMIT_INTERVAL_S = 0.2  # processor.runtime.checkpoint.COMMIT_INTERVAL_S
MAX_BATCH_RECORDS = 5000  # the worker's default max_batch_records
MAX_INFLIGHT_RECORDS = 50_000  # the worker's default max_inflight_records


async def run(argv: list[str]) -> dict[str, int]:
    bootstrap, raw_topic, group, expected_text, session_ms, numbers, *outputs = argv
    expected = int(expected_text)
    topics = dict(zip(("identity", "dropped", "dlq"), outputs, strict=True))
    settings = load_settings({"numbers": numbers}, environ={})
    pipeline = build_pipeline(settings, load_registry(numbers))
    consumer = AIOKafkaConsumer(
        raw_topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=int(session_ms),
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
    partitions = {t: len(await producer.partitions_for(t)) for t in topics.values()}
    pending: defaultdict[tuple[str, int], list[OutputRecord]] = defaultdict(list)

    def emit(output: OutputRecord) -> None:
        topic = topics[output.route]
        key = output.key
        partition = 0 if key is None else partition_for(key, partitions[topic])
        pending[(topic, partition)].append(output)

    consumed = produced = commits = 0
    window: deque[tuple[dict[TopicPartition, int], list[asyncio.Future[Any]], int]] = deque()
    in_flight = 0
    committable: dict[TopicPartition, int] = {}
    last_commit = 0.0
    try:
        while True:
            while window and all(f.done() for f in window[0][1]):
                offsets, futures, count = window.popleft()
                for future in futures:
                    future.result()  # a delivery failure ends the run loudly
                in_flight -= count
                committable.update(offsets)
            finished = consumed >= expected and not window
            now = time.monotonic()
            if committable and (finished or now - last_commit >= COMMIT_INTERVAL_S):
                await consumer.commit(committable)
                committable, last_commit = {}, now
                commits += 1
            if finished:
                break
            if consumed >= expected or in_flight >= MAX_INFLIGHT_RECORDS:
                await asyncio.wait(window[0][1])
                continue
            batches = await consumer.getmany(timeout_ms=200, max_records=MAX_BATCH_RECORDS)
            if not batches:
                continue
            offsets: dict[TopicPartition, int] = {}
            count = 0
            for tp, messages in batches.items():
                topic, partition = tp.topic, tp.partition
                records = [
                    InputRecord(
                        m.value or b"",
                        m.key,
                        list(m.headers),
                        topic,
                        partition,
                        m.offset,
                        m.timestamp,
                    )
                    for m in messages
                ]
                pipeline.process_batch(records, emit)
                offsets[tp] = messages[-1].offset + 1
                count += len(messages)
            futures: list[asyncio.Future[Any]] = []
            for (topic, partition), records in pending.items():
                batch = producer.create_batch()
                for o in records:
                    if (
                        batch.append(key=o.key, value=o.value, timestamp=None, headers=o.headers)
                        is None
                    ):
                        futures.append(await producer.send_batch(batch, topic, partition=partition))
                        batch = producer.create_batch()
                        batch.append(key=o.key, value=o.value, timestamp=None, headers=o.headers)
                futures.append(await producer.send_batch(batch, topic, partition=partition))
                produced += len(records)
            pending.clear()
            consumed += count
            window.append((offsets, futures, count))
            in_flight += count
    finally:
        await consumer.stop()
        await producer.stop()
    return {"consumed": consumed, "produced": produced, "commits": commits}


def main(argv: list[str]) -> int:
    counters = asyncio.run(run(argv))
    print(msgspec.json.encode(counters).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
