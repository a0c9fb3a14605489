"""The broker stalls, or dies and comes back empty: the worker reports it and never commits
what the broker no longer has. Each test starts a broker of its own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reliability.harness import Figures
from tests.reliability.scenarios import LOST_DATA, broker_loss, broker_stall, start_without_topics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


async def test_broker_stall_not_ready_then_recovers(
    tmp_path: Path, report: Callable[[Figures], None]
) -> None:
    # 12 s: a probe (every 5 s, 5 s timeout) started just before the stall fails by 11 s.
    figures, facts = await broker_stall("tansu", tmp_path, records=3000, stall_s=12.0)
    report(figures)
    figures.check()
    assert figures.stalls == 1
    # Not ready while the broker does not answer, for the reason that it does not ...
    assert facts.not_ready_after_stop_s is not None, "/readyz stayed 200 through the stall"
    assert facts.failing["broker_reachable"] > 0
    assert facts.not_ready_after_stop_s < 12.0
    # ... ready again on its own, the same process all along, and a clean drain at the end.
    assert facts.ready_after_cont_s is not None
    assert facts.ready_after_cont_s < 30.0
    assert facts.worker_pid_kept
    assert facts.exit_code == 0


@pytest.mark.parametrize("recreate", [False, True], ids=["empty", "topics-recreated"])
async def test_broker_replaced_by_an_empty_one_stops_the_worker(
    recreate: bool, tmp_path: Path, report: Callable[[Figures], None]
) -> None:
    figures, facts = await broker_loss("tansu", tmp_path, records=3000, recreate=recreate)
    report(figures)
    assert facts.exit_code == 1
    # One line says why, and it is the last thing the worker prints.
    assert facts.error_lines == 1
    assert facts.last_line.startswith("Error: ")
    assert LOST_DATA in facts.last_line
    backwards = "restarts at offset" in facts.last_line or "ends at offset" in facts.last_line
    if recreate:  # the topics are there again, but their offsets went backwards
        assert backwards
    else:  # gone (or, if a client's metadata request made the broker create them, backwards)
        assert "no longer exist" in facts.last_line or backwards
    assert facts.seconds_to_exit < 30.0
    if not recreate:  # (a worker frozen through the outage never saw the broker gone)
        assert facts.not_ready_seen
    # It had committed on the old broker, and commits nothing on the new one.
    assert max(facts.committed_before.values()) > 0
    assert set(facts.committed_on_new_broker.values()) == {-1}
    assert not figures.leaks


async def test_worker_refuses_to_start_without_its_topics(tmp_path: Path) -> None:
    code, last_line, topics = await start_without_topics(tmp_path)
    assert code == 1
    assert last_line.startswith("Error: topics ")
    assert "do not exist" in last_line
    assert "topics ensure" in last_line
    # Nothing was created behind the operator's back (brokers auto-create on metadata requests).
    assert not [t for t in topics if t.startswith("rel-")]
