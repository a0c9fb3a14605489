"""Fixtures of the reliability suite: its own broker (picked like the integration suite's, see
docs/brokers.md) and a place to report each scenario's figures in the pytest summary.

Scenarios that stop, kill or replace a broker start their own instead (`scenarios.OwnBroker`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from processor.devkit.brokers.base import RunningBroker
from processor.devkit.brokers.select import BrokerUnavailableError, start_broker
from tests.reliability.fuzz import FuzzReport
from tests.reliability.harness import Figures

_REPORTED: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _REPORTED:
        terminalreporter.section("reliability figures")
        for line in _REPORTED:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def reliability_broker() -> Iterator[RunningBroker]:
    try:
        running = start_broker()
    except BrokerUnavailableError as exc:
        pytest.fail(f"no broker can run here: {exc}")
    yield running
    running.stop()


@pytest.fixture
def report() -> Callable[[Figures | FuzzReport], None]:
    """Print a scenario's figures now (-s) and again in the summary."""

    def add(figures: Figures | FuzzReport) -> None:
        line = figures.line()
        print(line)
        _REPORTED.append(line)

    return add
