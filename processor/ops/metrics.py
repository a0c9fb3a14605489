"""Prometheus metrics, read at scrape time from the counters the stages keep anyway.

The pipeline counts everything in plain `Counter`s (`PipelineStats`), the links step in
`LinkStats`, and every stage keeps its state in `StageHealth`. Custom collectors turn them
into metric families when Prometheus scrapes, so the per-record hot path never calls into
`prometheus_client` (its counters take a lock per increment). The batch latency histogram
is observed once per batch; the record age and wait histograms are counted in bulk
(`ops.latency`). Every counter shows each known label value from the start, at 0
(`ops.catalog`), so dashboards show 0 rather than "no data".

Every process gets its own `CollectorRegistry`: nothing lands in the global default registry,
so tests (and several workers in one process) never see each other's metrics. The standard
process, platform and GC collectors are registered in it too.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import PackageNotFoundError, version
from itertools import product
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from processor.core.stats import PipelineStats
from processor.ops.catalog import (
    BATCH_BUCKETS,
    DEAD_LETTER_CODES,
    DECISIONS,
    EVENT_TYPES,
    FORMATS,
    IDENTITY_CLASSES,
    LINK_DESTINATIONS,
    LINK_SKIPS,
    METRICS,
    PREFIX,
    ROUTES,
    SKIP_REASONS,
)
from processor.ops.health import StageHealth
from processor.ops.latency import LatencyCollector, RecordLatency

if TYPE_CHECKING:
    from processor.stages.links import LinksHandler as LinksCounts

__all__ = ["DECISIONS", "METRICS", "PREFIX", "LinksCollector", "PipelineCollector", "StageMetrics"]


def _gauge(name: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", METRICS[name][2], value=value)


def _counter(name: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"{PREFIX}_{name}", METRICS[name][2], value=value)


def _labelled(name: str) -> CounterMetricFamily:
    _type, labels, help_text = METRICS[name]
    return CounterMetricFamily(f"{PREFIX}_{name}", help_text, labels=labels)


def _by_label(name: str, counts: dict[str, int], known: Iterable[str]) -> CounterMetricFamily:
    """A one-label counter with every known value (0 until counted) and any other counted."""
    family = _labelled(name)
    for label in sorted({*known, *counts}):
        family.add_metric([label], counts.get(label, 0))
    return family


def package_version() -> str:
    try:
        return version("bsuid-processor")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_info(stage: str) -> dict[str, str]:
    return {
        "version": package_version(),
        "python_version": platform.python_version(),
        "aiokafka_version": version("aiokafka"),
        "stage": stage,
    }


class StageCollector(Collector):
    """Reads `StageHealth` on each scrape (same thread as the stage: no locks)."""

    def __init__(self, health: StageHealth, stage: str) -> None:
        self._health = health
        info = build_info(stage)
        self._info = GaugeMetricFamily(
            f"{PREFIX}_build_info", METRICS["build_info"][2], labels=list(info)
        )
        self._info.add_metric(list(info.values()), 1)

    def collect(self) -> Iterator[Metric]:
        health = self._health
        yield self._info
        yield _gauge("up", float(health.alive()))
        yield _gauge("ready", float(health.ready()))
        lag = GaugeMetricFamily(
            f"{PREFIX}_consumer_lag", METRICS["consumer_lag"][2], labels=["topic", "partition"]
        )
        for where, records in sorted(health.lag.items()):
            # Keys are "topic:partition"; topic names cannot contain ":", partitions are ints.
            topic, _, partition = where.rpartition(":")
            lag.add_metric([topic, partition], records)
        yield lag
        group_lag = GaugeMetricFamily(
            f"{PREFIX}_group_lag_records",
            METRICS["group_lag_records"][2],
            labels=["group", "topic", "partition"],
        )
        for (group, topic, number), records in sorted(health.group_lag.items()):
            group_lag.add_metric([group, topic, str(number)], records)
        yield group_lag
        yield _gauge("group_lag_read_timestamp_seconds", health.group_lag_read_at)
        yield _gauge("assigned_partitions", health.assigned_partitions)
        yield _gauge("in_flight_records", health.in_flight_records)
        yield _gauge("broker_reachable", float(health.broker_reachable))
        yield _counter("rebalances_total", health.rebalances)
        yield _counter("commits_total", health.commits)
        yield _counter("commit_failures_total", health.commit_failures)
        yield _counter("produce_errors_total", health.delivery_failures)
        yield _counter("produce_retries_total", health.rewinds)


class PipelineCollector(Collector):
    """The identity pipeline's counters (`PipelineStats`), read on each scrape."""

    def __init__(self, stats: Callable[[], PipelineStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        yield _counter("records_total", stats.records)
        events = _labelled("events_total")
        known = product(ROUTES, IDENTITY_CLASSES, EVENT_TYPES)
        for route, identity_class, event_type in sorted({*known, *stats.events}):
            count = stats.events.get((route, identity_class, event_type), 0)
            decision = DECISIONS.get(route, "")
            events.add_metric([route, identity_class, decision, event_type], count)
        yield events
        yield _by_label("dead_letters_total", stats.dead_letters, DEAD_LETTER_CODES)
        yield _by_label("skips_total", stats.skips, SKIP_REASONS)
        yield _by_label("skipped_changes_total", stats.skipped_changes, SKIP_REASONS)
        yield _counter("legacy_bsuids_total", stats.legacy_bsuids)
        yield _by_label("format_records_total", stats.formats, FORMATS)


class LinksCollector(Collector):
    """The links stage's counters and state size, read on each scrape."""

    def __init__(self, handler: LinksCounts) -> None:
        self._handler = handler

    def collect(self) -> Iterator[Metric]:
        handler = self._handler
        stats = handler.topology.stats
        yield _by_label("links_input_records_total", handler.records_in, handler.inputs)
        yield _by_label("links_output_records_total", stats.outputs, LINK_DESTINATIONS)
        yield _by_label("links_skips_total", stats.skips, LINK_SKIPS)
        yield _counter("links_rotations_total", stats.rotations)
        yield _counter("links_tombstones_total", stats.tombstones)
        yield _gauge("links_state_links", sum(len(s.phones) for s in handler.states.values()))
        yield _gauge("links_state_partitions", len(handler.states))


class StageMetrics:
    """The registry of one stage process: its collectors, the latency histograms, and the
    standard process, platform and GC metrics."""

    def __init__(
        self,
        health: StageHealth,
        *collectors: Collector,
        stage: str = "identity",
        topics: Iterable[str] = (),
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StageCollector(health, stage))
        for collector in collectors:
            self.registry.register(collector)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.batch_seconds = Histogram(
            f"{PREFIX}_batch_seconds",
            METRICS["batch_seconds"][2],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        health.batch_seconds = self.batch_seconds.observe
        self.latency = RecordLatency(topics)
        health.latency = self.latency
        self.registry.register(
            LatencyCollector(self.latency, "record_age_seconds", "record_wait_seconds")
        )

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition body and its content type (OpenMetrics when the scraper asks)."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type
