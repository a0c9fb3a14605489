"""Workers joining and leaving every few seconds while input flows: nothing lost."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from processor.devkit.brokers.base import RunningBroker
from tests.reliability.harness import Figures
from tests.reliability.scenarios import rebalance_churn

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


async def test_rebalance_churn_loses_nothing(
    reliability_broker: RunningBroker, tmp_path: Path, report: Callable[[Figures], None]
) -> None:
    figures = await rebalance_churn(
        reliability_broker, tmp_path, records=4000, changes=6, interval_s=2.5, seed=404
    )
    report(figures)
    figures.check()
    # Every leaver drained, committed and left with exit 0 (asserted by the scenario).
    assert figures.workers >= 4
    assert figures.outputs_read == figures.expected_outputs + figures.duplicates
