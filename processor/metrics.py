"""Prometheus metrics, read at scrape time from the counters the pipeline and worker keep.

The pipeline already counts everything in plain `Counter`s (`PipelineStats`) and the worker
keeps its own state in `WorkerHealth`. A custom collector turns both into metric families when
Prometheus scrapes, so the per-record hot path never calls into `prometheus_client` (its
counters take a lock per increment). The one native metric is the batch latency histogram,
observed once per batch.

Every process gets its own `CollectorRegistry`: nothing lands in the global default registry,
so tests (and several workers in one process) never see each other's metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from processor.core.stats import PipelineStats
from processor.kafka.health import WorkerHealth

PREFIX: Final = "bsuid_processor"
#: Gate decision of each output route (dead letters have none).
DECISIONS: Final = {"identity": "admit", "dropped": "drop"}
#: From about a millisecond to the longest batch a 5000-record poll should take.
BATCH_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

#: name (without prefix) -> (type, labels, help): the table the README documents.
METRICS: Final[dict[str, tuple[str, tuple[str, ...], str]]] = {
    "up": ("gauge", (), "1 while the worker is alive (the /healthz condition)"),
    "ready": ("gauge", (), "1 while the worker is ready (the /readyz condition)"),
    "records_total": ("counter", (), "Input records read from the raw topic and processed"),
    "events_total": (
        "counter",
        ("route", "identity_class", "decision", "event_type"),
        "Identity events published, by output route, identity class, gate decision, type",
    ),
    "dead_letters_total": ("counter", ("code",), "Records dead-lettered, by error code"),
    "skips_total": ("counter", ("reason",), "Records that produced no output, by reason"),
    "skipped_changes_total": (
        "counter",
        ("reason",),
        "Changes passed over inside records that did produce output, by reason",
    ),
    "legacy_bsuids_total": ("counter", (), "BSUIDs of the legacy 256-character form accepted"),
    "consumer_lag": (
        "gauge",
        ("topic", "partition"),
        "Records between the high watermark and this worker's last commit",
    ),
    "assigned_partitions": ("gauge", (), "Input partitions assigned to this worker"),
    "in_flight_records": ("gauge", (), "Input records whose outputs await broker acks"),
    "broker_reachable": ("gauge", (), "1 when the last broker probe succeeded"),
    "rebalances_total": ("counter", (), "Consumer group rebalances (partitions revoked)"),
    "commits_total": ("counter", (), "Offset commits that succeeded"),
    "commit_failures_total": ("counter", (), "Offset commits refused or failed"),
    "produce_errors_total": ("counter", (), "Output batches the broker did not acknowledge"),
    "produce_retries_total": ("counter", (), "Rewinds to the last commit to produce again"),
    "batch_seconds": (
        "histogram",
        (),
        "Time to process and hand one polled batch to the producer",
    ),
}


def _gauge(name: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", METRICS[name][2], value=value)


def _counter(name: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"{PREFIX}_{name}", METRICS[name][2], value=value)


def _labelled(name: str) -> CounterMetricFamily:
    _type, labels, help_text = METRICS[name]
    return CounterMetricFamily(f"{PREFIX}_{name}", help_text, labels=labels)


class ProcessorCollector(Collector):
    """Reads `PipelineStats` and `WorkerHealth` on each scrape (same thread as the worker)."""

    def __init__(self, stats: Callable[[], PipelineStats], health: WorkerHealth) -> None:
        self._stats = stats
        self._health = health

    def collect(self) -> Iterator[Metric]:
        yield from self._pipeline_metrics(self._stats())
        yield from self._worker_metrics(self._health)

    def _pipeline_metrics(self, stats: PipelineStats) -> Iterator[Metric]:
        yield _counter("records_total", stats.records)
        events = _labelled("events_total")
        for (route, identity_class, event_type), count in sorted(stats.events.items()):
            decision = DECISIONS.get(route, "")
            events.add_metric([route, identity_class, decision, event_type], count)
        yield events
        for name, counts in (
            ("dead_letters_total", stats.dead_letters),
            ("skips_total", stats.skips),
            ("skipped_changes_total", stats.skipped_changes),
        ):
            family = _labelled(name)
            for label, count in sorted(counts.items()):
                family.add_metric([label], count)
            yield family
        yield _counter("legacy_bsuids_total", stats.legacy_bsuids)

    def _worker_metrics(self, health: WorkerHealth) -> Iterator[Metric]:
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
        yield _gauge("assigned_partitions", health.assigned_partitions)
        yield _gauge("in_flight_records", health.in_flight_records)
        yield _gauge("broker_reachable", float(health.broker_reachable))
        yield _counter("rebalances_total", health.rebalances)
        yield _counter("commits_total", health.commits)
        yield _counter("commit_failures_total", health.commit_failures)
        yield _counter("produce_errors_total", health.delivery_failures)
        yield _counter("produce_retries_total", health.rewinds)


class ProcessorMetrics:
    """The registry of one worker: the collector plus the batch histogram it feeds."""

    def __init__(self, stats: Callable[[], PipelineStats], health: WorkerHealth) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(ProcessorCollector(stats, health))
        self.batch_seconds = Histogram(
            f"{PREFIX}_batch_seconds",
            METRICS["batch_seconds"][2],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        health.batch_seconds = self.batch_seconds.observe

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition body and its content type (OpenMetrics when the scraper asks)."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type
