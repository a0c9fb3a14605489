"""The Prometheus collector: what a scrape shows for known pipeline and worker counters."""

from __future__ import annotations

import importlib.metadata
import platform
import re
import time
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from processor.core.stats import PipelineStats
from processor.ops.catalog import (
    DEAD_LETTER_CODES,
    EVENT_TYPES,
    IDENTITY_CLASSES,
    LINKS_ONLY,
    SKIP_REASONS,
    STANDARD,
)
from processor.ops.health import StageHealth
from processor.ops.metrics import METRICS, PREFIX, PipelineCollector, StageMetrics


def known_stats() -> PipelineStats:
    return PipelineStats(
        records=7,
        events=Counter(
            {
                ("identity", "bsuid_only", "inbound_message"): 3,
                ("identity", "phone_only", "delivery_status"): 2,
                ("dropped", "bsuid_only", "preference_update"): 1,
            }
        ),
        dead_letters=Counter({"invalid_json": 2, "bad_signature": 1}),
        skips=Counter({"not_customer_field": 1}),
        skipped_changes=Counter({"unsupported_field": 4}),
        legacy_bsuids=1,
    )


def known_health() -> StageHealth:
    return StageHealth(
        phase="running",
        assignment_received=True,
        broker_reachable=True,
        assigned_partitions=2,
        rebalances=3,
        rewinds=1,
        commits=40,
        commit_failures=2,
        delivery_failures=5,
        in_flight_records=123,
        lag={"whatsapp.webhooks.raw:0": 17, "whatsapp.webhooks.raw:4": 0},
        group_lag={("bsuid-processor", "whatsapp.webhooks.raw", 0): 17},
    )


@pytest.fixture
def metrics() -> StageMetrics:
    stats = known_stats()
    return StageMetrics(
        known_health(), PipelineCollector(lambda: stats), topics=("whatsapp.webhooks.raw",)
    )


def value(metrics: StageMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(f"{PREFIX}_{name}", labels)


def test_pipeline_counters(metrics: StageMetrics) -> None:
    assert value(metrics, "records_total") == 7
    assert (
        value(
            metrics,
            "events_total",
            route="identity",
            identity_class="bsuid_only",
            decision="admit",
            event_type="inbound_message",
        )
        == 3
    )
    assert (
        value(
            metrics,
            "events_total",
            route="dropped",
            identity_class="bsuid_only",
            decision="drop",
            event_type="preference_update",
        )
        == 1
    )
    assert value(metrics, "dead_letters_total", code="invalid_json") == 2
    assert value(metrics, "dead_letters_total", code="bad_signature") == 1
    assert value(metrics, "skips_total", reason="not_customer_field") == 1
    assert value(metrics, "skipped_changes_total", reason="unsupported_field") == 4
    assert value(metrics, "legacy_bsuids_total") == 1


def test_worker_counters_and_gauges(metrics: StageMetrics) -> None:
    assert value(metrics, "up") == 1
    assert value(metrics, "ready") == 1
    assert value(metrics, "consumer_lag", topic="whatsapp.webhooks.raw", partition="0") == 17
    assert value(metrics, "consumer_lag", topic="whatsapp.webhooks.raw", partition="4") == 0
    assert value(metrics, "assigned_partitions") == 2
    assert value(metrics, "in_flight_records") == 123
    assert value(metrics, "broker_reachable") == 1
    assert value(metrics, "rebalances_total") == 3
    assert value(metrics, "commits_total") == 40
    assert value(metrics, "commit_failures_total") == 2
    assert value(metrics, "produce_errors_total") == 5
    assert value(metrics, "produce_retries_total") == 1


def test_scrape_reads_the_counters_as_they_are_now() -> None:
    """No copy at start-up: the pipeline keeps counting and the next scrape sees it."""
    stats, health = PipelineStats(), StageHealth()
    metrics = StageMetrics(health, PipelineCollector(lambda: stats))
    assert value(metrics, "records_total") == 0
    assert value(metrics, "ready") == 0
    stats.records += 5
    stats.dead_letters["invalid_json"] += 1
    health.phase, health.assignment_received, health.broker_reachable = "running", True, True
    assert value(metrics, "records_total") == 5
    assert value(metrics, "dead_letters_total", code="invalid_json") == 1
    assert value(metrics, "ready") == 1


def test_up_falls_when_the_loop_stalls_or_fails() -> None:
    health = StageHealth(last_loop_at=time.monotonic() - 3600)
    metrics = StageMetrics(health, PipelineCollector(PipelineStats))
    assert value(metrics, "up") == 0
    health.last_loop_at, health.phase = time.monotonic(), "failed"
    assert value(metrics, "up") == 0


def test_batch_histogram_is_fed_through_worker_health() -> None:
    health = StageHealth()
    metrics = StageMetrics(health, PipelineCollector(PipelineStats))
    assert health.batch_seconds is not None
    health.batch_seconds(0.003)
    health.batch_seconds(0.2)
    assert value(metrics, "batch_seconds_count") == 2
    assert value(metrics, "batch_seconds_sum") == pytest.approx(0.203)
    assert value(metrics, "batch_seconds_bucket", le="0.005") == 1
    assert value(metrics, "batch_seconds_bucket", le="0.25") == 2


def test_every_documented_metric_is_exposed_and_nothing_else(metrics: StageMetrics) -> None:
    text = generate_latest(metrics.registry).decode()
    families = text_string_to_metric_families(text)
    # prometheus_client adds a `_created` timestamp series to its native histogram.
    exposed = {f.name for f in families if not f.name.endswith("_created")}
    # The parser names counters without their `_total` suffix.
    identity = {name: m for name, m in METRICS.items() if name not in LINKS_ONLY}
    documented = {f"{PREFIX}_{name.removesuffix('_total')}" for name in identity}
    standard = {name.removesuffix("_total") for name in STANDARD}
    assert exposed == documented | standard
    for name, (kind, labels, _help) in identity.items():
        assert f"# TYPE {PREFIX}_{name} {kind}" in text
        for label in labels:
            assert f'{label}="' in text, (name, label)


def test_each_worker_has_its_own_registry() -> None:
    first = StageMetrics(StageHealth(), PipelineCollector(PipelineStats))
    second = StageMetrics(StageHealth(), PipelineCollector(PipelineStats))
    assert first.registry is not second.registry
    # Nothing leaks into prometheus_client's global registry.
    assert REGISTRY.get_sample_value(f"{PREFIX}_records_total") is None


def test_openmetrics_when_the_scraper_asks(metrics: StageMetrics) -> None:
    body, content_type = metrics.render("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.rstrip().endswith(b"# EOF")
    body, content_type = metrics.render("")
    assert content_type.startswith("text/plain")
    assert b"bsuid_processor_records_total 7.0" in body


def test_operations_guide_documents_every_metric_with_its_labels() -> None:
    readme = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    # | `name` | type | labels | meaning |: name -> labels cell.
    rows = dict(re.findall(r"^\| `(bsuid_processor_\w+)` \| \w+ \|([^|]*)\|", readme, re.M))
    assert set(rows) == {f"{PREFIX}_{name}" for name in METRICS}
    for name, (_kind, labels, _help) in METRICS.items():
        for label in labels:
            assert f"`{label}`" in rows[f"{PREFIX}_{name}"], (name, label)


def test_every_counter_shows_each_known_label_value_at_zero_before_any_record() -> None:
    metrics = StageMetrics(StageHealth(), PipelineCollector(PipelineStats))
    for code in DEAD_LETTER_CODES:
        assert value(metrics, "dead_letters_total", code=code) == 0
    assert "internal_error" in DEAD_LETTER_CODES
    for reason in SKIP_REASONS:
        assert value(metrics, "skips_total", reason=reason) == 0
        assert value(metrics, "skipped_changes_total", reason=reason) == 0
    for route, decision in (("identity", "admit"), ("dropped", "drop")):
        for identity_class in IDENTITY_CLASSES:
            for event_type in EVENT_TYPES:
                labels = {
                    "route": route,
                    "identity_class": identity_class,
                    "decision": decision,
                    "event_type": event_type,
                }
                assert value(metrics, "events_total", **labels) == 0, labels
    for name in ("records_total", "legacy_bsuids_total", "commits_total", "rebalances_total"):
        assert value(metrics, name) == 0


def test_a_counted_label_value_the_code_did_not_know_is_shown_too() -> None:
    stats = PipelineStats(dead_letters=Counter({"some_new_code": 2}))
    metrics = StageMetrics(StageHealth(), PipelineCollector(lambda: stats))
    assert value(metrics, "dead_letters_total", code="some_new_code") == 2
    assert value(metrics, "dead_letters_total", code="invalid_json") == 0


def test_build_info_names_version_python_aiokafka_and_stage() -> None:
    metrics = StageMetrics(StageHealth(), stage="links")
    (sample,) = [
        s
        for family in metrics.registry.collect()
        if family.name == f"{PREFIX}_build_info"
        for s in family.samples
    ]
    assert sample.value == 1
    assert sample.labels["stage"] == "links"
    assert sample.labels["version"] == importlib.metadata.version("bsuid-processor")
    assert sample.labels["python_version"] == platform.python_version()
    assert sample.labels["aiokafka_version"] == importlib.metadata.version("aiokafka")


def test_process_metrics_are_in_the_stages_own_registry() -> None:
    metrics = StageMetrics(StageHealth())
    assert metrics.registry.get_sample_value("process_resident_memory_bytes", {}) > 0
    assert metrics.registry.get_sample_value("process_open_fds", {}) > 0
    assert metrics.registry.get_sample_value("process_start_time_seconds", {}) > 0
    assert metrics.registry.get_sample_value("process_cpu_seconds_total", {}) is not None


def test_group_lag_per_group_topic_and_partition() -> None:
    health = StageHealth()
    metrics = StageMetrics(health)
    assert value(metrics, "group_lag_records", group="g", topic="t", partition="0") is None
    assert value(metrics, "group_lag_read_timestamp_seconds") == 0
    health.group_lag = {("g", "t", 0): 12, ("g", "t", 1): 0}
    health.group_lag_read_at = 1_800_000_000.5
    assert value(metrics, "group_lag_read_timestamp_seconds") == 1_800_000_000.5
    assert value(metrics, "group_lag_records", group="g", topic="t", partition="0") == 12
    assert value(metrics, "group_lag_records", group="g", topic="t", partition="1") == 0


def test_latency_histograms_exist_at_zero_for_each_input_topic() -> None:
    metrics = StageMetrics(StageHealth(), topics=("raw", "other"))
    for topic in ("raw", "other"):
        assert value(metrics, "record_age_seconds_count", topic=topic) == 0
        assert value(metrics, "record_age_seconds_bucket", topic=topic, le="+Inf") == 0
    assert value(metrics, "record_wait_seconds_count") == 0
