"""`bsuid-processor replay` as a user runs it, on each broker: an empty topic, a few thousand
records, and an interrupted run resumed with --group. Exit 0 and the counts of the offline
pipeline; an interrupt ends with one line saying how to resume."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from tests.integration.conftest import KafkaEnv
from tests.integration.test_worker import event_ids, expected_ids, generated, offline

pytestmark = pytest.mark.integration


def replay_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "processor", "replay", *args]


def run_replay(env: KafkaEnv, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        replay_command(*args),
        env=env.env() | {"COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def counted(output: str, what: str) -> int:
    """A row of the summary table: `what` and its count."""
    match = re.search(rf"{re.escape(what)}\s*[│|]\s*([\d,]+)", output)
    assert match is not None, f"{what!r} not in the summary:\n{output[-3000:]}"
    return int(match.group(1).replace(",", ""))


def test_replay_of_an_empty_topic_ends_at_once(generated_env: KafkaEnv) -> None:
    done = run_replay(generated_env, "--output-suffix", ".empty")
    assert done.returncode == 0, done.stderr[-3000:]
    assert counted(done.stdout, "records read") == 0
    assert "Traceback" not in done.stderr


async def test_replay_of_2000_records_counts_as_offline(generated_env: KafkaEnv) -> None:
    env = generated_env
    records = generated(2000, seed=21)
    await env.produce(records)
    done = await asyncio.to_thread(run_replay, env, "--output-suffix", ".two")
    assert done.returncode == 0, done.stderr[-3000:]
    expected = offline(records, env.settings.numbers)
    routes = Counter(o.route for o in expected)
    assert counted(done.stdout, "records read") == 2000
    for route in ("identity", "dropped", "dlq"):
        assert counted(done.stdout, f"route {route}") == routes[route]
    identity = await env.read(env.settings.identity_topic + ".two", routes["identity"])
    assert set(event_ids(identity)) == expected_ids(expected, "identity")


async def committed(env: KafkaEnv, group: str) -> int:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=env.broker.bootstrap_servers, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        total = 0
        for partition in range(3):
            offset = await consumer.committed(TopicPartition(env.settings.raw_topic, partition))
            total += offset or 0
        return total
    finally:
        await consumer.stop()


async def test_an_interrupted_replay_resumes_with_its_group(
    generated_env: KafkaEnv, tmp_path: Path
) -> None:
    env = generated_env
    records = generated(40_000, seed=22)
    await env.produce(records)
    group = f"{env.settings.group_id}.backfill"
    args = ("--group", group, "--output-suffix", ".g")
    log = (tmp_path / "first.log").open("w")
    first = subprocess.Popen(  # noqa: ASYNC220 (polled below without blocking the loop)
        replay_command(*args),
        # Small batches: commits start early and the run lasts long enough to interrupt.
        env=env.env() | {"BSUID_MAX_BATCH_RECORDS": "100", "COLUMNS": "200"},
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = asyncio.get_running_loop().time() + 120
        while await committed(env, group) == 0 and first.poll() is None:
            assert asyncio.get_running_loop().time() < deadline, "no commit in 120 s"
            await asyncio.sleep(0.05)
        first.send_signal(signal.SIGINT)
        code = await asyncio.to_thread(first.wait, 120)
    finally:
        if first.poll() is None:
            first.kill()
        log.close()
    output = (tmp_path / "first.log").read_text()
    assert code == 1, output[-3000:]  # stopped early: drained, committed, one line
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, output[-3000:]
    assert f"run it again with --group {group} to resume" in errors[0]
    assert "Traceback" not in output
    first_read = counted(output, "records read")

    second = await asyncio.to_thread(run_replay, env, *args)
    assert second.returncode == 0, second.stderr[-3000:]
    second_read = counted(second.stdout, "records read")
    # The second run went on from the first one's commits, to the first one's end.
    assert second_read < len(records)
    assert first_read + second_read >= len(records)
    expected = offline(records, env.settings.numbers)
    want = expected_ids(expected, "identity")
    got = await env.read(env.settings.identity_topic + ".g", len(want))
    assert set(event_ids(got)) == want
