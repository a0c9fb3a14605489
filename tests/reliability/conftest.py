"""Fixtures of the reliability suite: its own broker (picked like the integration suite's, see
docs/brokers.md) and a place to report each scenario's figures in the pytest summary.

Scenarios that stop, kill or replace a broker start their own instead (`scenarios.OwnBroker`).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from processor.devkit.brokers.base import RunningBroker
from tests import brokers
from tests.reliability.fuzz import FuzzReport
from tests.reliability.harness import Figures


@pytest.fixture(scope="session")
def reliability_broker() -> RunningBroker:
    """The session's reference broker (a real Apache Kafka where one can run), shared with
    the integration suite's tests on that broker."""
    return brokers.session_broker(brokers.reference_broker())


@pytest.fixture
def report() -> Callable[[Figures | FuzzReport], None]:
    """Print a scenario's figures now (-s) and again in the summary."""

    def add(figures: Figures | FuzzReport) -> None:
        line = figures.line()
        print(line)
        brokers.SUMMARY.append(line)

    return add
