"""`run --processes N` on a real broker: one command, N group members, stopped as one."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from tests.integration.conftest import KafkaEnv
from tests.integration.test_worker import event_ids, expected_ids, generated, offline
from tests.integration.workers import WorkerProcess, drain

pytestmark = pytest.mark.integration


def child_pids(worker: WorkerProcess) -> list[int]:
    worker.wait_for_log('"worker processes started"')
    started = worker.logged("worker processes started")[0]
    pids = started["pids"]
    assert isinstance(pids, list)
    return [int(pid) for pid in pids]


def wait_for_both_children(worker: WorkerProcess, event: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        seen = {e.get("process") for e in worker.logged(event)}
        if {0, 1} <= seen:
            return
        time.sleep(0.1)
    raise AssertionError(f"not both children logged {event!r}:\n{worker.log_text()[-3000:]}")


def running(pid: int) -> bool:
    """Alive and not a zombie (a reparented child may wait a while to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


async def test_two_processes_route_everything_as_offline(
    generated_env: KafkaEnv, tmp_path: Path
) -> None:
    env = generated_env
    await env.create_topics(partitions=4)
    records = generated(3000)
    await env.produce(records)
    expected = offline(records, env.settings.numbers)
    worker = WorkerProcess(env.env(), tmp_path, "set", "--processes", "2", "--exit-when-drained")
    try:
        code = await asyncio.to_thread(worker.wait, 180)
        assert code == 0, worker.log_text()[-3000:]
    finally:
        worker.stop()
    stopped = worker.logged("stage stopped")
    assert sorted(e["process"] for e in stopped) == [0, 1]
    assert sum(int(e["records"]) for e in stopped) >= len(records)
    want = expected_ids(expected, "identity")
    identity = await env.read(env.settings.identity_topic, len(want))
    assert set(event_ids(identity)) == want


async def test_sigterm_drains_every_process_and_exits_zero(
    generated_env: KafkaEnv, tmp_path: Path
) -> None:
    env = generated_env
    await env.create_topics(partitions=4)
    records = generated(2000, seed=12)
    expected = offline(records, env.settings.numbers)
    worker = WorkerProcess(env.env(), tmp_path, "set", "--processes", "2")
    try:
        wait_for_both_children(worker, "partitions assigned")
        await env.produce(records)
        await env.read(env.settings.identity_topic, 1, timeout_s=30)
        worker.signal(signal.SIGTERM)
        code = await asyncio.to_thread(worker.wait, 90)
        assert code == 0, worker.log_text()[-3000:]
    finally:
        worker.stop()
    assert {e.get("process") for e in worker.logged("stage stopped")} == {0, 1}
    assert not worker.logged("worker process failed")
    # What the set did not finish is read by the next worker: nothing is lost.
    await drain(env.env(), tmp_path, "after")
    want = expected_ids(expected, "identity")
    identity = await env.read(env.settings.identity_topic, len(want))
    assert set(event_ids(identity)) == want


async def started_set(kafka: KafkaEnv, tmp_path: Path) -> tuple[WorkerProcess, list[int]]:
    """`run --processes 2` with both children up; their pids."""
    await kafka.create_topics(partitions=2)
    worker = WorkerProcess(kafka.env(), tmp_path, "set", "--processes", "2")
    try:
        pids = child_pids(worker)
        wait_for_both_children(worker, "stage starting")
    except BaseException:
        worker.stop()
        raise
    return worker, pids


async def test_one_process_failing_stops_the_set(kafka: KafkaEnv, tmp_path: Path) -> None:
    worker, pids = await started_set(kafka, tmp_path)
    try:
        os.kill(pids[0], signal.SIGKILL)
        code = await asyncio.to_thread(worker.wait, 90)
    finally:
        worker.stop()
    assert code == 1, worker.log_text()[-3000:]
    failed = worker.logged("worker process failed")
    assert [(e["process"], e["exit_code"]) for e in failed] == [(0, -signal.SIGKILL)]
    assert [e.get("process") for e in worker.logged("stage stopped")] == [1]


async def test_children_stop_when_the_supervisor_is_killed(kafka: KafkaEnv, tmp_path: Path) -> None:
    worker, pids = await started_set(kafka, tmp_path)
    try:
        worker.kill()  # SIGKILL: no chance to forward anything
        deadline = time.monotonic() + 60
        while any(running(pid) for pid in pids) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        assert not any(running(pid) for pid in pids), worker.log_text()[-3000:]
    finally:
        worker.stop()
        for pid in pids:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
    assert {e.get("process") for e in worker.logged("supervisor gone: stopping")} == {0, 1}
    # They drained and left the group properly, not just died.
    assert {e.get("process") for e in worker.logged("stage stopped")} == {0, 1}
