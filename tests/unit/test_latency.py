"""Record age and wait histograms counted in bulk: the same numbers prometheus_client's own
histogram would show, without a call into it per record."""

from __future__ import annotations

import random
import time
from typing import NamedTuple

import pytest
from prometheus_client import CollectorRegistry, Histogram

from processor.ops.health import StageHealth
from processor.ops.latency import (
    AGE_BUCKETS,
    WAIT_BUCKETS,
    BulkHistogram,
    RecordLatency,
    count_ages,
)
from processor.ops.metrics import PREFIX, StageMetrics


class Message(NamedTuple):
    """The one attribute of an aiokafka ConsumerRecord the histograms read."""

    timestamp: int


def samples(histogram: BulkHistogram) -> dict[str, float]:
    return dict(histogram.buckets())


def test_bulk_counts_equal_prometheus_clients_histogram() -> None:
    rng = random.Random(7)
    # Bounds themselves included: `le` is inclusive.
    values = [rng.choice([*AGE_BUCKETS, rng.uniform(0, 100_000)]) for _ in range(2000)]
    registry = CollectorRegistry()
    native = Histogram("native_seconds", "reference", buckets=AGE_BUCKETS, registry=registry)
    bulk = BulkHistogram(AGE_BUCKETS)
    for v in values:
        native.observe(v)
        bulk.observe(v)
    for le, count in bulk.buckets():
        assert registry.get_sample_value("native_seconds_bucket", {"le": le}) == count, le
    assert registry.get_sample_value("native_seconds_sum") == pytest.approx(bulk.total)
    assert registry.get_sample_value("native_seconds_count") == bulk.count == len(values)


def test_weighted_observation_counts_each_record() -> None:
    bulk = BulkHistogram(WAIT_BUCKETS)
    bulk.observe(0.003, 500)
    assert samples(bulk)["0.0025"] == 0
    assert samples(bulk)["0.005"] == 500
    assert bulk.total == pytest.approx(1.5)
    assert bulk.count == 500


def test_age_from_kafka_timestamps_and_wait_from_the_poll() -> None:
    latency = RecordLatency(["raw"])
    now_ms = int(time.time() * 1000)
    parts = [
        ("raw", [Message(now_ms - 2_000), Message(now_ms - 40_000), Message(-1)]),
        # A topic not known upfront gets its own series.
        ("late", [Message(now_ms + 60_000)]),  # a producer clock ahead of ours: age 0
    ]
    latency.handed_over(parts, polled_at=time.monotonic() - 0.2)
    raw = samples(latency.age["raw"])
    assert latency.age["raw"].count == 2  # the record without a timestamp has no age
    assert raw["1.0"] == 0
    assert raw["2.5"] == 1
    assert raw["30.0"] == 1
    assert raw["60.0"] == 2
    assert latency.age["raw"].total == pytest.approx(42.0, abs=1.0)
    assert samples(latency.age["late"])["0.005"] == 1
    # Every record of the poll waited, with or without a timestamp.
    assert latency.wait.count == 4
    assert samples(latency.wait)["0.1"] == 0
    assert samples(latency.wait)["0.25"] == 4


def test_stage_health_feeds_the_scraped_histograms() -> None:
    health = StageHealth()
    metrics = StageMetrics(health, topics=("raw",))
    health.handed_over([("raw", [Message(int(time.time() * 1000) - 500)])], time.monotonic())
    registry = metrics.registry
    assert registry.get_sample_value(f"{PREFIX}_record_age_seconds_count", {"topic": "raw"}) == 1
    assert registry.get_sample_value(f"{PREFIX}_record_wait_seconds_count", {}) == 1
    le_1s = {"topic": "raw", "le": "1.0"}
    assert registry.get_sample_value(f"{PREFIX}_record_age_seconds_bucket", le_1s) == 1


def test_counting_a_batch_of_stamps_equals_observing_each_age() -> None:
    rng = random.Random(11)
    now_ms = 1_800_000_000_000.0
    for _ in range(50):
        stamps = [int(now_ms - rng.choice([0, 1, 3, 40, 900, 7_000, 4e6, 1e8])) for _ in range(40)]
        stamps += [-1, int(now_ms) + 5_000]  # no timestamp; a clock ahead of ours
        rng.shuffle(stamps)
        bulk, reference = BulkHistogram(AGE_BUCKETS), BulkHistogram(AGE_BUCKETS)
        count_ages(bulk, list(stamps), now_ms)
        for stamp in stamps:
            if stamp >= 0:
                reference.observe(max(now_ms - stamp, 0) / 1000)
        assert bulk.buckets() == reference.buckets()
        assert bulk.count == reference.count == 41
        assert bulk.total == pytest.approx(reference.total)
