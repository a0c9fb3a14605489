"""Exactly-once on Apache Kafka: a read_committed reader sees every output once, whatever
happens to the workers (SIGKILL, rebalances), and a second owner fences the first."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import msgspec
import pytest

from processor.devkit.brokers.tansu import start_tansu, tansu_available
from processor.devkit.generate import demo_registry_toml, generate
from tests.integration.conftest import KafkaEnv
from tests.integration.test_worker import Record, offline
from tests.integration.workers import WorkerProcess, drain, terminate

pytestmark = [pytest.mark.integration, pytest.mark.requires("transactions")]
EOS = {"BSUID_GUARANTEE": "exactly-once", "BSUID_TRANSACTION_INTERVAL_MS": "100"}


@pytest.fixture
def eos_env(kafka: KafkaEnv, tmp_path: Path) -> KafkaEnv:
    numbers = tmp_path / "numbers.toml"
    numbers.write_text(demo_registry_toml())
    return KafkaEnv(kafka.broker, msgspec.structs.replace(kafka.settings, numbers=str(numbers)))


def records(count: int, seed: int) -> list[Record]:
    return [(r.key, r.value, list(r.headers)) for r in generate(count, seed=seed)]


async def assert_exactly_once(env: KafkaEnv, inputs: list[Record]) -> Counter[str]:
    """Every expected output exactly as often as the offline pipeline gives it."""
    expected = offline(inputs, env.settings.numbers)
    s = env.settings
    for route, topic in (
        ("identity", s.identity_topic),
        ("dropped", s.dropped_topic),
    ):
        want = Counter(json.loads(o.value)["eventId"] for o in expected if o.route == route)
        got_messages = await env.read(
            topic, sum(want.values()), timeout_s=60, isolation_level="read_committed"
        )
        got = Counter(json.loads(m.value)["eventId"] for m in got_messages)
        assert got == want, f"{route}: missing {want - got}, extra {got - want}"
    want_dlq = Counter(o.value for o in expected if o.route == "dlq")
    got_dlq = Counter(
        m.value
        for m in await env.read(
            s.dlq_topic, sum(want_dlq.values()), timeout_s=60, isolation_level="read_committed"
        )
    )
    assert got_dlq == want_dlq
    return want


async def test_repeated_sigkill_gives_each_output_exactly_once(
    eos_env: KafkaEnv, tmp_path: Path
) -> None:
    env = eos_env
    inputs = records(20_000, seed=31)
    await env.produce(inputs)
    worker_env = {**env.env(), **EOS}
    for kill in range(3):
        worker = WorkerProcess(worker_env, tmp_path, f"killed{kill}")
        try:
            await asyncio.to_thread(worker.wait_for_log, "partitions assigned")
            await asyncio.sleep(1.0 + kill * 0.5)
            worker.kill()
        finally:
            worker.stop()
    await drain(worker_env, tmp_path, "last")
    await assert_exactly_once(env, inputs)


async def test_rebalance_between_two_workers_gives_each_output_exactly_once(
    eos_env: KafkaEnv, tmp_path: Path
) -> None:
    env = eos_env
    inputs = records(12_000, seed=32)
    await env.produce(inputs)
    worker_env = {**env.env(), **EOS}
    one = WorkerProcess(worker_env, tmp_path, "one")
    try:
        await asyncio.to_thread(one.wait_for_log, "partitions assigned")
        two = WorkerProcess(worker_env, tmp_path, "two")
        try:
            await asyncio.to_thread(two.wait_for_log, "partitions assigned")
            await asyncio.sleep(1.0)
            await terminate(two)
        finally:
            two.stop()
        await terminate(one)
    finally:
        one.stop()
    await drain(worker_env, tmp_path, "rest")
    await assert_exactly_once(env, inputs)


async def test_a_second_owner_of_the_transactional_ids_fences_the_first(
    eos_env: KafkaEnv, tmp_path: Path
) -> None:
    env = eos_env
    await env.produce(records(2000, seed=33))
    first_env = {**env.env(), **EOS, "BSUID_TRANSACTIONAL_ID_PREFIX": "shared"}
    first = WorkerProcess(first_env, tmp_path, "first")
    try:
        await asyncio.to_thread(first.wait_for_log, "partitions assigned")
        # Another group, same transactional ids: a zombie's view of the world.
        second_env = {**first_env, "BSUID_GROUP_ID": env.settings.group_id + ".other"}
        second = WorkerProcess(second_env, tmp_path, "second")
        try:
            await asyncio.to_thread(second.wait_for_log, "partitions assigned")
            await env.produce(records(500, seed=34))
            code = await asyncio.to_thread(first.wait, 60)
            assert code != 0
            assert "fenced" in first.log_text()
        finally:
            second.stop()
    finally:
        first.stop()


@pytest.mark.skipif(not tansu_available(), reason="needs the embedded Tansu broker")
def test_exactly_once_is_refused_on_a_broker_without_transactions(tmp_path: Path) -> None:
    tansu = start_tansu()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "processor", "run", "--guarantee", "exactly-once"],
            env={
                "PATH": "/usr/bin:/bin",
                "KAFKA_BOOTSTRAP_SERVERS": tansu.bootstrap_servers,
                "BSUID_HTTP_PORT": "0",
                "BSUID_CREATE_TOPICS": "true",
                "BSUID_LOG_LEVEL": "error",
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        tansu.stop()
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1
    assert "exactly-once needs a broker with transactions" in errors[0]
