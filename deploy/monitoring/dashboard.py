"""The Grafana dashboard of both stages, built with grafana-foundation-sdk (Grafana's own typed
builders), so panels are code: `python -m deploy.monitoring.build` writes the JSON.

Every query names only metrics of `processor.ops.catalog` or the standard process metrics;
tests/unit/test_monitoring.py checks that, and tests/integration/test_observability.py that a
live worker and `links run` export every one of them. Stages are told apart by the scrape
job (`$job`): `bsuid-processor` and `bsuid-processor-links` in deploy/k8s/monitoring; the
group lag by its `group` label.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.dashboard import Panel as PanelModel

UID = "bsuid-processor"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
#: The scrape jobs of the stages this dashboard shows.
JOB = 'job=~"$job"'
RATE = "$__rate_interval"


def query(expr: str, legend: str) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend)


def graph(
    title: str, description: str, unit: str, *queries: prometheus.Dataquery, width: int = 8
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .min(0)
        .height(8)
        .span(width)
    )
    for q in queries:
        panel = panel.with_target(q)
    return panel


def single(title: str, description: str, expr: str, unit: str = "none") -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .height(4)
        .span(4)
        .with_target(query(expr, ""))
    )


def quantiles(metric: str, by: str = "") -> list[prometheus.Dataquery]:
    group = f"le{', ' + by if by else ''}"
    label = f" {{{{{by}}}}}" if by else ""
    return [
        query(
            f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{{{JOB}}}[{RATE}])))",
            f"p{round(q * 100)}{label}",
        )
        for q in (0.5, 0.99)
    ]


GROUP_LAG = "max by (group, topic, partition) (bsuid_processor_group_lag_records{" + JOB + "})"

OVERVIEW: list[Builder[PanelModel]] = [
    single(
        "Workers ready",
        "Workers whose /readyz says ready, of those scraped",
        f"sum(bsuid_processor_ready{{{JOB}}})",
    ),
    single(
        "Workers not ready",
        "Alive but not ready: no assignment yet, broker unreachable, state loading",
        f"count(bsuid_processor_ready{{{JOB}}} == 0) or vector(0)",
    ),
    single(
        "Group lag (records)",
        "Records the consumer groups have yet to commit, as Kafka sees it",
        f"sum({GROUP_LAG})",
    ),
    single(
        "Input records/s",
        "Identity stage: raw webhooks processed per second",
        f"sum(rate(bsuid_processor_records_total{{{JOB}}}[{RATE}]))",
        "reqps",
    ),
    single(
        "Dead letters/s",
        "Raw webhooks dead-lettered per second",
        f"sum(rate(bsuid_processor_dead_letters_total{{{JOB}}}[{RATE}]))",
        "reqps",
    ),
    single(
        "Event age p99",
        "99th percentile of input record age when its outputs are handed to the producer",
        "histogram_quantile(0.99, sum by (le) "
        f"(rate(bsuid_processor_record_age_seconds_bucket{{{JOB}}}[{RATE}])))",
        "s",
    ),
]

THROUGHPUT = [
    graph(
        "Identity events by route",
        "Identity events published per second: identity (admitted) and dropped (gated)",
        "reqps",
        query(f"sum by (route) (rate(bsuid_processor_events_total{{{JOB}}}[{RATE}]))", "{{route}}"),
        query(f"sum(rate(bsuid_processor_records_total{{{JOB}}}[{RATE}]))", "input records"),
    ),
    graph(
        "Events by identity class",
        "Identity events per second by identity class",
        "reqps",
        query(
            f"sum by (identity_class) (rate(bsuid_processor_events_total{{{JOB}}}[{RATE}]))",
            "{{identity_class}}",
        ),
    ),
    graph(
        "Dead letters and skips by reason",
        "Records dead-lettered (by code) and records that produced nothing (by reason)",
        "reqps",
        query(
            f"sum by (code) (rate(bsuid_processor_dead_letters_total{{{JOB}}}[{RATE}])) > 0",
            "dead letter: {{code}}",
        ),
        query(
            f"sum by (reason) (rate(bsuid_processor_skips_total{{{JOB}}}[{RATE}])) > 0",
            "skip: {{reason}}",
        ),
    ),
]

LAG = [
    graph(
        "Group lag by partition",
        "End offset minus the group's committed offset, every input partition "
        "(max across members: each exports the whole group)",
        "short",
        query(GROUP_LAG, "{{group}} {{topic}}/{{partition}}"),
        width=12,
    ),
    graph(
        "Group lag by group",
        "Total records each consumer group has yet to commit",
        "short",
        query(f"sum by (group) ({GROUP_LAG})", "{{group}}"),
        width=12,
    ),
]

LATENCY = [
    graph(
        "Event age at publish",
        "Now minus the input record's Kafka timestamp, when its outputs go to the producer",
        "s",
        *quantiles("bsuid_processor_record_age_seconds", "topic"),
    ),
    graph(
        "Wait in the worker",
        "From the poll that returned a record to the hand-over of its outputs",
        "s",
        *quantiles("bsuid_processor_record_wait_seconds"),
    ),
    graph(
        "Batch processing time",
        "Time to process one polled batch and hand it to the producer",
        "s",
        *quantiles("bsuid_processor_batch_seconds"),
    ),
]

LINKS = [
    graph(
        "Links: records in and out",
        "Links stage: records read per input topic and written per destination",
        "reqps",
        query(
            f"sum by (topic) (rate(bsuid_processor_links_input_records_total{{{JOB}}}[{RATE}]))",
            "in: {{topic}}",
        ),
        query(
            "sum by (destination) "
            f"(rate(bsuid_processor_links_output_records_total{{{JOB}}}[{RATE}]))",
            "out: {{destination}}",
        ),
    ),
    graph(
        "Links: rotations, tombstones, skips",
        "BSUID rotations announced, links removed, identity events without link facts",
        "reqps",
        query(f"sum(rate(bsuid_processor_links_rotations_total{{{JOB}}}[{RATE}]))", "rotations"),
        query(f"sum(rate(bsuid_processor_links_tombstones_total{{{JOB}}}[{RATE}]))", "tombstones"),
        query(
            f"sum by (reason) (rate(bsuid_processor_links_skips_total{{{JOB}}}[{RATE}])) > 0",
            "skip: {{reason}}",
        ),
    ),
    graph(
        "Links: state in memory",
        "Phone links and state partitions held by the links stage",
        "short",
        query(f"sum(bsuid_processor_links_state_links{{{JOB}}})", "links"),
        query(f"sum(bsuid_processor_links_state_partitions{{{JOB}}})", "partitions"),
    ),
]

KAFKA = [
    graph(
        "Commits and rebalances",
        "Offset commits (and failures), rebalances, per second",
        "reqps",
        query(f"sum by (job) (rate(bsuid_processor_commits_total{{{JOB}}}[{RATE}]))", "commits"),
        query(
            f"sum by (job) (rate(bsuid_processor_commit_failures_total{{{JOB}}}[{RATE}]))",
            "commit failures {{job}}",
        ),
        query(
            f"sum by (job) (increase(bsuid_processor_rebalances_total{{{JOB}}}[{RATE}]))",
            "rebalances {{job}}",
        ),
    ),
    graph(
        "Produce errors and retries",
        "Output batches not acknowledged, and rewinds to produce again",
        "short",
        query(
            f"sum by (job) (increase(bsuid_processor_produce_errors_total{{{JOB}}}[{RATE}]))",
            "errors {{job}}",
        ),
        query(
            f"sum by (job) (increase(bsuid_processor_produce_retries_total{{{JOB}}}[{RATE}]))",
            "retries {{job}}",
        ),
    ),
    graph(
        "In flight, partitions, broker",
        "Inputs awaiting acks, partitions held, broker reachable, per worker",
        "short",
        query(f"bsuid_processor_in_flight_records{{{JOB}}}", "in flight {{instance}}"),
        query(f"bsuid_processor_assigned_partitions{{{JOB}}}", "partitions {{instance}}"),
        query(f"bsuid_processor_broker_reachable{{{JOB}}}", "broker {{instance}}"),
    ),
]

PROCESS = [
    graph(
        "CPU",
        "CPU seconds per second per worker (one asyncio loop: at most about 1)",
        "percentunit",
        query(f"rate(process_cpu_seconds_total{{{JOB}}}[{RATE}])", "{{instance}}"),
    ),
    graph(
        "Memory (RSS)",
        "Resident memory per worker",
        "bytes",
        query(f"process_resident_memory_bytes{{{JOB}}}", "{{instance}}"),
    ),
    graph(
        "Open file descriptors, restarts",
        "Open fds per worker, and process restarts in the last hour",
        "short",
        query(f"process_open_fds{{{JOB}}}", "fds {{instance}}"),
        query(
            f"changes(process_start_time_seconds{{{JOB}}}[1h])",
            "restarts/h {{instance}}",
        ),
    ),
]

ROWS: list[tuple[str, list[Builder[PanelModel]]]] = [
    ("Overview", OVERVIEW),
    ("Identity stage: throughput", list(THROUGHPUT)),
    ("Consumer group lag (as Kafka sees it)", list(LAG)),
    ("Latency", list(LATENCY)),
    ("Links stage", list(LINKS)),
    ("Kafka client", list(KAFKA)),
    ("Process", list(PROCESS)),
]


def build() -> dashboard.Dashboard:
    board = (
        dashboard.Dashboard("bsuid-processor")
        .uid(UID)
        .description("Identity worker (run) and links stage (links run): flow, lag, latency")
        .tags(["bsuid-processor", "kafka"])
        .refresh("30s")
        .time("now-3h", "now")
        .timezone("browser")
        .with_variable(
            dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")
        )
        .with_variable(
            dashboard.QueryVariable("job")
            .label("Stage (job)")
            .datasource(DATASOURCE)
            .query("label_values(bsuid_processor_build_info, job)")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".*")
        )
    )
    for title, panels in ROWS:
        board = board.with_row(dashboard.Row(title))
        for panel in panels:
            board = board.with_panel(panel)
    return board
