"""What the dashboard, the alert rules and the KEDA example ask Prometheus for: the metric
names in their expressions, for the unit tests (against the catalog) and the integration test
(against a live scrape)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[1]
DASHBOARD = ROOT / "deploy" / "monitoring" / "bsuid-processor-dashboard.json"
RULES = ROOT / "deploy" / "monitoring" / "alerts.yml"
KEDA = ROOT / "deploy" / "k8s" / "keda" / "scaledobject.yaml"

#: PromQL words that look like names but are not metrics.
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left"}
KEYWORDS |= {"group_right", "offset", "bool", "inf", "nan"}
GROUPING = r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"


def metric_names(expr: str) -> set[str]:
    """Metric (and recording rule) names an expression selects."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings: label values
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(GROUPING, " ", text)  # label lists
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        before = text[match.start() - 1] if match.start() else " "
        if before.isdigit() or before == ".":
            continue  # an exponent: 1e-9
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function or aggregation
        if match.group().lower() not in KEYWORDS:
            names.add(match.group())
    return names


def dashboard() -> dict[str, Any]:
    board: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return board


def dashboard_exprs() -> list[str]:
    exprs = [
        target["expr"] for panel in dashboard()["panels"] for target in panel.get("targets", [])
    ]
    for variable in dashboard()["templating"]["list"]:
        query = variable.get("query", "")
        if isinstance(query, str) and query.startswith("label_values("):
            exprs.append(query.removeprefix("label_values(").split(",")[0])
    return exprs


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def keda_exprs() -> list[str]:
    scaled = yaml.safe_load(KEDA.read_text())
    return [t["metadata"]["query"] for t in scaled["spec"]["triggers"] if t["type"] == "prometheus"]


def exported_names_used() -> set[str]:
    """Every metric the dashboard, the rules and KEDA select, recording rules resolved away."""
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    used: set[str] = set()
    for expr in [*dashboard_exprs(), *(rule["expr"] for rule in rules()), *keda_exprs()]:
        used |= metric_names(expr)
    unknown_recorded = {name for name in used if ":" in name} - recorded
    assert not unknown_recorded, f"recording rules not defined: {unknown_recorded}"
    return used - recorded
