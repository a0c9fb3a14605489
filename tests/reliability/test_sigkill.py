"""Repeated SIGKILL of the worker at random moments over a stream: nothing unaccounted for."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from processor.devkit.brokers.base import RunningBroker
from tests.reliability.harness import Figures
from tests.reliability.scenarios import sigkill_loop

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


async def test_sigkill_loop_loses_nothing(
    reliability_broker: RunningBroker, tmp_path: Path, report: Callable[[Figures], None]
) -> None:
    figures = await sigkill_loop(reliability_broker, tmp_path, records=5000, kills=4, seed=101)
    report(figures)
    figures.check()  # every input's expected outputs at least once, nothing else, no leak
    assert figures.kills == 4
    assert figures.workers == 5
    # At-least-once: a killed worker's uncommitted outputs come again, as the same events.
    assert figures.outputs_read == figures.expected_outputs + figures.duplicates
    assert figures.dead_letters, "the stream carries malformed records: dead letters expected"
    assert figures.log_lines > 0
