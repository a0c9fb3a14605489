"""Outputs the broker refuses, and bodies at Meta's 3 MiB limit, through a real broker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from processor.devkit.brokers.base import RunningBroker
from tests.reliability.harness import Figures
from tests.reliability.scenarios import large_bodies, output_refused

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


async def test_refused_output_stops_the_worker_and_a_fixed_restart_delivers_it(
    reliability_broker: RunningBroker, tmp_path: Path, report: Callable[[Figures], None]
) -> None:
    if reliability_broker.kind == "tansu":
        pytest.skip("Tansu neither enforces max.message.bytes nor has alter_configs")
    figures, facts = await output_refused(reliability_broker, tmp_path)
    report(figures)
    # The first worker stops with one line naming the refusal ...
    assert facts.exit_code == 1
    assert facts.error_lines == 1
    assert facts.last_line.startswith(
        "Error: an output was refused by the broker and will not be retried: "
        "MessageSizeTooLargeError"
    )
    # ... commits nothing from the refused record on, and did not drop it silently ...
    assert facts.committed_after_failure[facts.big_partition] <= facts.big_offset
    assert not facts.big_in_dlq_before_fix
    # ... and once the topic takes it, a restart dead-letters it and finishes the stream.
    assert facts.restart_exit_code == 0
    figures.check()
    assert figures.dead_letters["invalid_json"] >= 1


async def test_bodies_up_to_3_mib_pass_and_larger_are_dead_lettered(
    reliability_broker: RunningBroker, tmp_path: Path, report: Callable[[Figures], None]
) -> None:
    figures = await large_bodies(reliability_broker, tmp_path)
    report(figures)
    figures.check()
    assert figures.dead_letters["too_large"] == 1
    assert figures.dead_letters["invalid_json"] >= 1
    # The valid 3 MiB history chunk is thousands of customer appearances, all published.
    assert figures.expected_outputs > 4000
