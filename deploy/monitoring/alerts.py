"""The Prometheus rules of both stages, as data: `python -m deploy.monitoring.build` writes them
as a plain rules file (deploy/monitoring/alerts.yml) and as a PrometheusRule
(deploy/k8s/monitoring/prometheusrule.yaml). Each alert has a runbook section in
docs/operations.md, under its own name.

Alerts are per worker (`job`, `instance`) except lag, which is per consumer group: every
member exports the whole group's lag, so it is taken as the max per partition.
"""

from __future__ import annotations

from typing import Any

RUNBOOK = "docs/operations.md#{anchor}"
#: The lag of each group, once per partition (members agree; on Tansu the owner is exact).
GROUP_LAG = "sum by (group) (max by (group, topic, partition) (bsuid_processor_group_lag_records))"

RECORDING: list[dict[str, Any]] = [
    {"record": "bsuid_processor:group_lag_records:sum", "expr": GROUP_LAG},
]


def alert(  # noqa: PLR0917 (each call reads as one row of a table of alerts)
    name: str, expr: str, duration: str, severity: str, summary: str, description: str
) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity},
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": RUNBOOK.format(anchor=name.lower()),
        },
    }


ALERTS: list[dict[str, Any]] = [
    alert(
        "BsuidProcessorGroupLagGrowing",
        "bsuid_processor:group_lag_records:sum > 1000"
        " and deriv(bsuid_processor:group_lag_records:sum[15m]) > 0",
        "15m",
        "warning",
        "Consumer group {{ $labels.group }} falls behind",
        "{{ $value }} records not yet committed, and growing for 15 minutes: the workers "
        "read slower than records arrive.",
    ),
    alert(
        "BsuidProcessorStalled",
        "sum by (job, instance) (bsuid_processor_consumer_lag) > 0"
        " and on (job, instance)"
        " sum by (job, instance) (rate(bsuid_processor_commits_total[10m])) == 0",
        "10m",
        "critical",
        "{{ $labels.instance }} has records to read but commits nothing",
        "Its partitions have lag and no offset was committed for 10 minutes: outputs are not "
        "acknowledged, or the loop is stuck.",
    ),
    alert(
        "BsuidProcessorNotReady",
        "bsuid_processor_ready == 0",
        "5m",
        "warning",
        "{{ $labels.instance }} not ready for 5 minutes",
        "/readyz names the failing condition (assignment, broker, control topic, state).",
    ),
    alert(
        "BsuidProcessorDeadLetterRate",
        "sum by (job, instance) (rate(bsuid_processor_dead_letters_total[10m]))"
        " / sum by (job, instance) (rate(bsuid_processor_records_total[10m])) > 0.05",
        "10m",
        "warning",
        "More than 5% of webhooks dead-lettered on {{ $labels.instance }}",
        "{{ $value | humanizePercentage }} of input records went to the dead-letter topic.",
    ),
    alert(
        "BsuidProcessorInternalErrors",
        'sum by (job, instance) (increase(bsuid_processor_dead_letters_total{code="internal_error"}[10m])) > 0',  # noqa: E501
        "0m",
        "critical",
        "A bug in the pipeline dead-lettered records on {{ $labels.instance }}",
        "Records were dead-lettered with code internal_error: the pipeline raised.",
    ),
    alert(
        "BsuidProcessorNoOutput",
        "sum by (job, instance) (rate(bsuid_processor_records_total[15m])) > 0"
        " unless on (job, instance)"
        " sum by (job, instance) (rate(bsuid_processor_events_total[15m])) > 0",
        "15m",
        "critical",
        "{{ $labels.instance }} reads webhooks but publishes no identity event",
        "Input flows, every record is dead-lettered or skipped.",
    ),
    alert(
        "BsuidProcessorLinksNoOutput",
        "sum by (job, instance) (rate(bsuid_processor_links_input_records_total[15m])) > 0"
        " unless on (job, instance)"
        " sum by (job, instance) (rate(bsuid_processor_links_output_records_total[15m])) > 0",
        "15m",
        "critical",
        "The links stage {{ $labels.instance }} reads identity events but writes nothing",
        "Input flows, no repartition, link or changelog record comes out.",
    ),
    alert(
        "BsuidProcessorProduceErrors",
        "sum by (job, instance) (increase(bsuid_processor_produce_errors_total[10m])) > 0",
        "0m",
        "warning",
        "The broker refused outputs of {{ $labels.instance }}",
        "Output batches were not acknowledged; the worker rewinds and produces them again.",
    ),
    alert(
        "BsuidProcessorEventAgeHigh",
        "histogram_quantile(0.99, sum by (job, le)"
        " (rate(bsuid_processor_record_age_seconds_bucket[10m]))) > 300",
        "15m",
        "warning",
        "Events of {{ $labels.job }} are published more than 5 minutes after they arrived",
        "p99 of input record age at publish is {{ $value | humanizeDuration }}.",
    ),
    alert(
        "BsuidProcessorRestarting",
        "changes(process_start_time_seconds[30m]) > 2"
        " and on (job, instance) bsuid_processor_build_info",
        "0m",
        "warning",
        "{{ $labels.instance }} restarted {{ $value }} times in 30 minutes",
        "The process keeps starting again: crash loop or failing liveness probe.",
    ),
]


def groups() -> list[dict[str, Any]]:
    # One group, recording rules first: Prometheus evaluates the rules of a group in order at
    # one timestamp, so an alert reads the sum recorded in the same cycle. In separate groups
    # the two evaluate independently, and an alert's $value could be one interval old.
    return [{"name": "bsuid-processor", "rules": [*RECORDING, *ALERTS]}]
