"""The real brokers of a test session, shared by the integration and reliability suites.

Each kind starts once per test process, on first use, and stops at the session's end. The
integration suite runs every test that takes the `broker` fixture on each broker of the
session: the reference broker (testcontainers when Docker answers, else a local Apache Kafka)
and the embedded Tansu. `KAFKA_BOOTSTRAP_SERVERS` (a cluster you run) or
`BROKER=kafka|tansu|testcontainers` (or `apache-kafka`, `embedded`) narrows the session to that
one broker.

`make test` runs the suite in parallel (pytest-xdist, `--dist loadgroup`): the tests of one
broker form one group and run in one worker process, so each broker starts once, and the
brokers' suites run side by side. What each worker ran on and the reliability figures are
sent back to the controller (`workeroutput`) for the summary.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from processor.devkit.brokers.apache_kafka import java_and_maven_available
from processor.devkit.brokers.base import RunningBroker
from processor.devkit.brokers.select import (
    BrokerUnavailableError,
    canonical_kind,
    docker_available,
    start_broker,
    start_kind,
)
from processor.devkit.brokers.tansu import tansu_available

_STARTED: dict[str, RunningBroker] = {}
#: Lines for the session summary: brokers run on, reliability figures.
SUMMARY: list[str] = []


def session_brokers() -> list[str]:
    """The brokers this session runs the integration suite on (`BROKER` values)."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip():
        return ["external"]
    forced = os.environ.get("BROKER", "").strip().lower()
    if forced:
        return [canonical_kind(forced)]
    kinds = []
    if docker_available():
        kinds.append("testcontainers")
    elif java_and_maven_available():
        kinds.append("kafka")
    if tansu_available():
        kinds.append("tansu")
    return kinds or ["tansu"]  # fails with the reason when the fixture starts it


def reference_broker() -> str:
    """The broker the reliability suite runs on: the first real Kafka of the session."""
    kinds = session_brokers()
    return next((kind for kind in kinds if kind != "tansu"), kinds[0])


def session_broker(kind: str) -> RunningBroker:
    """The session's broker of `kind`, started on first use."""
    if kind not in _STARTED:
        try:
            running = start_broker() if kind == "external" else start_kind(kind)
        except BrokerUnavailableError as exc:
            pytest.fail(f"no {kind} broker can run here: {exc}")
        _STARTED[kind] = running
        SUMMARY.append(f"integration tests ran on: {running.describe()}")
    return _STARTED[kind]


def stop_brokers() -> None:
    for running in _STARTED.values():
        running.stop()
    _STARTED.clear()


def broker_group(item: pytest.Item) -> str | None:
    """The xdist group of a test: the broker it runs on, if any."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "broker" in callspec.params:
        return str(callspec.params["broker"])
    if "reliability_broker" in getattr(item, "fixturenames", ()):
        return reference_broker()
    if item.get_closest_marker("reference_broker") is not None:
        return reference_broker()  # reuses the session's Apache Kafka (test_brokers.py)
    return None


def summary_lines(config: Any) -> list[str]:
    """This process's summary lines, and those the xdist workers sent back."""
    lines = list(SUMMARY)
    for sent in getattr(config, "_bsuid_worker_lines", []):
        lines += sent
    return list(dict.fromkeys(lines))
