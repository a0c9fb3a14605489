"""What the record age and wait histograms cost per record, against prometheus_client's own.

    .venv/bin/python bench/latency_overhead.py

One 5000-record poll over 6 partitions (timestamps a few seconds old, in offset order as
fetched) is handed to `RecordLatency.handed_over`, the per-batch call the stage makes; the
reference observes each record's age with `Histogram.observe`. Best of 5 repeats each.
"""

from __future__ import annotations

import time
import timeit

from aiokafka.structs import ConsumerRecord
from prometheus_client import CollectorRegistry, Histogram

from processor.ops.latency import AGE_BUCKETS, RecordLatency

RECORDS, PARTITIONS = 5000, 6


def main() -> None:
    now = int(time.time() * 1000)
    messages = [
        ConsumerRecord("raw", 0, i, now - 5000 + i // 10, 0, b"k", b"v", None, 1, 1, [])
        for i in range(RECORDS)
    ]
    size = RECORDS // PARTITIONS + 1
    parts = [("raw", messages[i * size : (i + 1) * size]) for i in range(PARTITIONS)]
    latency = RecordLatency(["raw"])
    runs = 500
    best = min(
        timeit.repeat(lambda: latency.handed_over(parts, time.monotonic()), number=runs, repeat=5)
    )
    per_record = best / runs / RECORDS * 1e9
    print(f"bulk, per batch: {best / runs * 1e3:.3f} ms per {RECORDS}-record poll")
    print(f"bulk, per record: {per_record:.0f} ns")
    native = Histogram(
        "age_seconds", "reference", buckets=AGE_BUCKETS, registry=CollectorRegistry()
    )

    def observe_each() -> None:
        now_ms = time.time() * 1000
        for message in messages:
            native.observe((now_ms - message.timestamp) / 1000)

    best = min(timeit.repeat(observe_each, number=20, repeat=5))
    print(f"Histogram.observe per record: {best / 20 / RECORDS * 1e9:.0f} ns")


if __name__ == "__main__":
    main()
