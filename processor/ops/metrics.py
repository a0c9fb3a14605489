"""Prometheus metrics, read at scrape time from the counters the stages keep anyway.

The pipeline counts everything in plain `Counter`s (`PipelineStats`), the links step in
`LinkStats`, and every stage keeps its state in `StageHealth`. Custom collectors turn them
into metric families when Prometheus scrapes, so the per-record hot path never calls into
`prometheus_client` (its counters take a lock per increment). The one native metric is the
batch latency histogram, observed once per batch.

Every process gets its own `CollectorRegistry`: nothing lands in the global default registry,
so tests (and several workers in one process) never see each other's metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Final

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from processor.core.stats import PipelineStats
from processor.ops.health import StageHealth

if TYPE_CHECKING:
    from processor.stages.links import LinksHandler as LinksCounts

PREFIX: Final = "bsuid_processor"
#: Gate decision of each output route (dead letters have none).
DECISIONS: Final = {"identity": "admit", "dropped": "drop"}
#: Label values every links counter shows from the start (0 until something happens).
LINK_DESTINATIONS: Final = ("changelog", "identity", "links", "repartition")
LINK_SKIPS: Final = ("bad_time", "one_identifier", "own_rotation", "unattested_card", "undecodable")
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
    "links_input_records_total": (
        "counter",
        ("topic",),
        "Links stage: records read, by input topic (identity, repartition)",
    ),
    "links_output_records_total": (
        "counter",
        ("destination",),
        "Links stage: records written, by destination (links, repartition, identity, changelog)",
    ),
    "links_skips_total": (
        "counter",
        ("reason",),
        "Links stage: identity events that say nothing about links, by reason",
    ),
    "links_rotations_total": ("counter", (), "Links stage: BSUID rotations announced"),
    "links_state_links": ("gauge", (), "Links stage: phone links held in memory"),
    "links_state_partitions": ("gauge", (), "Links stage: state partitions held in memory"),
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


class StageCollector(Collector):
    """Reads `StageHealth` on each scrape (same thread as the stage: no locks)."""

    def __init__(self, health: StageHealth) -> None:
        self._health = health

    def collect(self) -> Iterator[Metric]:
        health = self._health
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


class PipelineCollector(Collector):
    """The identity pipeline's counters (`PipelineStats`), read on each scrape."""

    def __init__(self, stats: Callable[[], PipelineStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
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


class StageMetrics:
    """The registry of one stage process: its collectors plus the batch histogram."""

    def __init__(self, health: StageHealth, *collectors: Collector) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StageCollector(health))
        for collector in collectors:
            self.registry.register(collector)
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


class LinksCollector(Collector):
    """The links stage's counters and state size, read on each scrape."""

    def __init__(self, handler: LinksCounts) -> None:
        self._handler = handler

    def collect(self) -> Iterator[Metric]:
        handler = self._handler
        stats = handler.topology.stats
        for name, counts, known in (
            ("links_input_records_total", handler.records_in, handler.inputs),
            ("links_output_records_total", handler.records_out, LINK_DESTINATIONS),
            ("links_skips_total", stats.skips, LINK_SKIPS),
        ):
            family = _labelled(name)
            for label in sorted({*known, *counts}):
                family.add_metric([label], counts.get(label, 0))
            yield family
        yield _counter("links_rotations_total", stats.rotations)
        yield _gauge("links_state_links", sum(len(s.phones) for s in handler.states.values()))
        yield _gauge("links_state_partitions", len(handler.states))
