"""Record latency histograms, counted in bulk once per batch: off prometheus_client's lock.

Two families, observed when a batch's outputs are handed to the producer:
- age: now minus each input record's Kafka timestamp (the producer's CreateTime, or the
  broker's LogAppendTime), per input topic: how old an event is when we publish what it caused;
- wait: from the poll that returned the records to that hand-over, once per batch with the
  batch's record count as weight (every record of a poll waits the same).

prometheus_client's `Histogram.observe` takes a lock and walks the buckets per call; at tens of
thousands of records a second that is the per-record hot path the stage avoids. Here a batch
is counted into a plain list of bucket counts (a sort of its timestamps and a bisect per
bucket, no lock: the stage and the HTTP server share one event loop), and a collector turns
the lists into histogram families on each scrape.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate
from typing import Any, Final

from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from processor.ops.catalog import METRICS, PREFIX

#: Event age: from a few milliseconds (flowing) to a day (a replayed or stuck backlog).
AGE_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 900.0, 3600.0, 21600.0, 86400.0,
)  # fmt: skip
#: Wait in the worker: from a fraction of a millisecond to a poll stuck behind backpressure.
WAIT_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


class BulkHistogram:
    """Bucket counts (not cumulative), sum and count of one histogram series."""

    __slots__ = ("bounds", "count", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = list(bounds)
        #: counts[i]: observations in (bounds[i-1], bounds[i]]; the last one: above every bound.
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float, weight: int = 1) -> None:
        """`weight` observations of `value`."""
        self.counts[bisect_left(self.bounds, value)] += weight
        self.total += value * weight
        self.count += weight

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative (le, count) pairs, `+Inf` last: what HistogramMetricFamily takes."""
        cumulative = list(accumulate(self.counts))
        bounds = [*self.bounds, float("inf")]
        return [(_le(b), c) for b, c in zip(bounds, cumulative, strict=True)]


class RecordLatency:
    """Age and wait of the records a stage hands to its producer."""

    def __init__(self, topics: Iterable[str]) -> None:
        #: One age series per input topic, there (at zero) before the first record.
        self.age = {topic: BulkHistogram(AGE_BUCKETS) for topic in topics}
        self.wait = BulkHistogram(WAIT_BUCKETS)

    def handed_over(self, parts: Sequence[tuple[str, Sequence[Any]]], polled_at: float) -> None:
        """Records (per topic) handed to the producer now; `polled_at`: time.monotonic() when
        their poll returned."""
        records = 0
        now_ms = time.time() * 1000
        for topic, messages in parts:
            age = self.age.get(topic)
            if age is None:
                age = self.age[topic] = BulkHistogram(AGE_BUCKETS)
            count_ages(age, [m.timestamp for m in messages], now_ms)
            records += len(messages)
        if records:
            self.wait.observe(time.monotonic() - polled_at, records)


def count_ages(age: BulkHistogram, stamps: list[int], now_ms: float) -> None:
    """Count `now_ms - stamp` into `age`: a sort and a bisect per bucket, not per record.

    One partition's records come in offset order, so their timestamps are nearly sorted
    already and the sort is about linear; an age is at most a bound `b` exactly when its
    stamp is at least `now_ms - b`.
    """
    stamps.sort()
    # -1: no timestamp (a pre-0.10 message format): no age to tell.
    first = bisect_left(stamps, 0)
    # A producer's clock ahead of ours: age 0, not negative.
    future = bisect_right(stamps, now_ms, lo=first)
    counted = len(stamps) - first
    if not counted:
        return
    counts, below = age.counts, 0
    for i, bound in enumerate(age.bounds):
        within = len(stamps) - bisect_left(stamps, now_ms - bound * 1000, lo=first)
        counts[i] += within - below
        below = within
    counts[-1] += counted - below
    age.total += ((future - first) * now_ms - sum(stamps[first:future])) / 1000
    age.count += counted


class LatencyCollector(Collector):
    """The two histograms, read on each scrape."""

    def __init__(self, latency: RecordLatency, age_name: str, wait_name: str) -> None:
        self._latency = latency
        self._names = age_name, wait_name

    def collect(self) -> Iterator[Metric]:
        age_name, wait_name = self._names
        age = HistogramMetricFamily(
            f"{PREFIX}_{age_name}", METRICS[age_name][2], labels=METRICS[age_name][1]
        )
        for topic, histogram in sorted(self._latency.age.items()):
            age.add_metric([topic], histogram.buckets(), histogram.total)
        yield age
        wait = self._latency.wait
        family = HistogramMetricFamily(f"{PREFIX}_{wait_name}", METRICS[wait_name][2])
        family.add_metric([], wait.buckets(), wait.total)
        yield family


def _le(bound: float) -> str:
    """A bucket bound spelled as prometheus_client's own histograms spell it."""
    return "+Inf" if bound == float("inf") else repr(float(bound))
