"""The dashboard and the alert rules agree with the code: they are generated from it, they
name only metrics the stages export, and each alert has its runbook in the operations guide."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from deploy.monitoring import build
from processor.ops.catalog import METRICS, PREFIX, STANDARD
from tests.monitoring import (
    RULES,
    alerts,
    dashboard,
    dashboard_exprs,
    exported_names_used,
    metric_names,
    rules,
)

ROOT = Path(__file__).parents[2]
OPERATIONS = ROOT / "docs" / "operations.md"


def sample_names() -> set[str]:
    """Every sample name a stage can export (a histogram's `_bucket`, `_sum`, `_count`)."""
    names = set(STANDARD)
    for name, (kind, _labels, _help) in METRICS.items():
        full = f"{PREFIX}_{name}"
        if kind == "histogram":
            names |= {f"{full}_bucket", f"{full}_sum", f"{full}_count"}
        else:
            names.add(full)
    return names


def test_generated_files_are_up_to_date() -> None:
    for path, text in build.outputs().items():
        assert path.read_text() == text, f"run `python -m deploy.monitoring.build`: {path}"


def test_metric_names_of_an_expression() -> None:
    expr = (
        'sum by (job, le) (rate(a_bucket{job=~"$job", x="y z"}[$__rate_interval])) / 1e-9'
        " and on (job) b:rec:sum > 0 unless ignoring (x) c offset 5m"
    )
    assert metric_names(expr) == {"a_bucket", "b:rec:sum", "c"}


def test_dashboard_and_rules_name_only_exported_metrics() -> None:
    used = exported_names_used()
    assert used <= sample_names(), used - sample_names()
    # Both stages, latency, group lag and the process are on the dashboard.
    on_board = set().union(*(metric_names(e) for e in dashboard_exprs()))
    for name in (
        "bsuid_processor_group_lag_records",
        "bsuid_processor_record_age_seconds_bucket",
        "bsuid_processor_record_wait_seconds_bucket",
        "bsuid_processor_links_output_records_total",
        "bsuid_processor_records_total",
        "process_resident_memory_bytes",
    ):
        assert name in on_board, name


def test_dashboard_panels_are_complete() -> None:
    board = dashboard()
    assert board["uid"] == "bsuid-processor"
    panels = [p for p in board["panels"] if p["type"] != "row"]
    titles = [p["title"] for p in panels]
    assert len(titles) == len(set(titles))
    for panel in panels:
        assert panel["targets"], panel["title"]
        assert panel["description"], panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert all(target["expr"] for target in panel["targets"])


def test_every_alert_is_complete_and_has_a_runbook_section() -> None:
    guide = OPERATIONS.read_text()
    headings = set(re.findall(r"^### (\w+)", guide, re.M))
    names = [rule["alert"] for rule in alerts()]
    assert len(names) == len(set(names))
    assert set(names) <= headings, set(names) - headings
    wanted = {"GroupLagGrowing", "DeadLetterRate", "NotReady", "NoOutput", "Restarting"}
    assert {f"BsuidProcessor{w}" for w in wanted} <= set(names)
    for rule in alerts():
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["runbook_url"].endswith("#" + rule["alert"].lower())
        assert re.fullmatch(r"\d+[smh]", rule["for"])


def test_prometheus_rule_holds_the_plain_rules_file() -> None:
    plain = yaml.safe_load(RULES.read_text())
    path = ROOT / "deploy" / "k8s" / "monitoring" / "prometheusrule.yaml"
    rule = yaml.safe_load(path.read_text())
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"] == plain
    assert rules()


def promtool() -> str:
    found = os.environ.get("PROMTOOL") or shutil.which("promtool")
    go_bin = Path(os.environ.get("GOPATH", Path.home() / "go")) / "bin" / "promtool"
    if found is None and go_bin.exists():
        found = str(go_bin)
    if found is None:
        pytest.skip(
            "promtool not found (PATH, $PROMTOOL, $GOPATH/bin): `go install "
            "github.com/prometheus/prometheus/cmd/promtool@latest` to check the rules with it"
        )
    return found


def test_promtool_accepts_the_rules() -> None:
    done = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_alert_unit_tests_pass() -> None:
    """deploy/monitoring/alerts_test.yml: the alerts fire (and stay quiet) as intended."""
    tests = RULES.parent / "alerts_test.yml"
    done = subprocess.run(
        [promtool(), "test", "rules", str(tests)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
