"""The streaming worker end to end on a real broker: routes, restarts, rebalances, shutdown."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from processor.core.pipeline import Pipeline
from processor.core.records import InputRecord, OutputRecord
from processor.devkit.generate import generate
from processor.settings import load_registry
from processor.wiring import StageOptions, build_pipeline, serve_identity
from tests.integration.conftest import FIXTURES, KafkaEnv
from tests.integration.workers import WorkerProcess, drain, terminate

pytestmark = pytest.mark.integration

Record = tuple[bytes | None, bytes, list[tuple[str, bytes]]]


def offline(records: list[Record], numbers: str) -> list[OutputRecord]:
    """What the same pure pipeline gives offline: the oracle for the live worker."""
    pipeline = Pipeline(registry=load_registry(numbers))
    outputs: list[OutputRecord] = []
    for key, value, headers in records:
        pipeline.process(InputRecord(value=value, key=key, headers=headers), outputs.append)
    return outputs


def event_ids(messages: list[Any]) -> Counter[str]:
    return Counter(json.loads(m.value)["eventId"] for m in messages)


def expected_ids(outputs: list[OutputRecord], route: str) -> set[str]:
    return {json.loads(o.value)["eventId"] for o in outputs if o.route == route}


def generated(count: int, seed: int = 11) -> list[Record]:
    return [(r.key, r.value, list(r.headers)) for r in generate(count, seed=seed)]


async def run_until_drained(env: KafkaEnv) -> Pipeline:
    pipeline = build_pipeline(env.settings, load_registry(env.settings.numbers))
    options = StageOptions(stop_when_drained=True, install_signal_handlers=False)
    await asyncio.wait_for(serve_identity(env.settings, pipeline, options), 120)
    return pipeline


async def test_every_sample_is_routed_as_offline(kafka: KafkaEnv) -> None:
    samples = sorted((FIXTURES / "webhooks").glob("*.json"))
    bodies = [json.dumps(json.loads(path.read_bytes())).encode() for path in samples]
    garbage: list[Record] = [(b"k", b"{not json", [("webhook-source", b"meta")])]
    # One key: every record on one partition, so a malformed record sits between valid ones.
    records: list[Record] = [(b"k", body, []) for body in bodies] + garbage
    records += [(b"k", body, []) for body in bodies]
    await kafka.produce(records)

    pipeline = await run_until_drained(kafka)

    expected = offline(records, kafka.settings.numbers)
    s = kafka.settings
    identity = await kafka.read(s.identity_topic, sum(o.route == "identity" for o in expected))
    dropped = await kafka.read(s.dropped_topic, sum(o.route == "dropped" for o in expected))
    dlq = await kafka.read(s.dlq_topic, 1)
    want = Counter(json.loads(o.value)["eventId"] for o in expected if o.route == "identity")
    assert event_ids(identity) == want
    assert event_ids(dropped) == Counter(
        json.loads(o.value)["eventId"] for o in expected if o.route == "dropped"
    )
    # Phone-less customers of number B (not enabled), each body twice: Eve, Kim and the
    # Vonage and WATI ones.
    assert sum(event_ids(dropped).values()) == sum(o.route == "dropped" for o in expected) == 8
    assert [m.value for m in dlq] == [b"{not json"]
    headers = dict(dlq[0].headers)
    assert headers["dlq.error.code"] == b"invalid_json"
    assert headers["webhook-source"] == b"meta"  # original headers kept
    assert headers["dlq.source.topic"] == s.raw_topic.encode()
    assert dlq[0].key == b"k"
    assert pipeline.stats.skips["not_customer_field"] == 2
    # Keys are identity keys, and per key the order of input is kept.
    for message in identity:
        assert message.key.decode() == json.loads(message.value)["identity"]["key"]
    offline_order = [json.loads(o.value)["eventId"] for o in expected if o.route == "identity"]
    live_order = [
        json.loads(m.value)["eventId"]
        for m in sorted(identity, key=lambda m: (m.partition, m.offset))
    ]
    for key in {m.key for m in identity}:
        ids = {json.loads(m.value)["eventId"] for m in identity if m.key == key}
        assert [i for i in live_order if i in ids] == [i for i in offline_order if i in ids]


async def test_sigkill_mid_stream_then_restart_loses_nothing(
    generated_env: KafkaEnv, tmp_path: Path
) -> None:
    env = generated_env
    records = generated(4000)
    await env.produce(records)
    expected = offline(records, env.settings.numbers)

    first = WorkerProcess(env.env(), tmp_path, "first")
    try:
        await wait_for_outputs(env, env.settings.identity_topic, 500)
        first.kill()
    finally:
        first.stop()
    await drain(env.env(), tmp_path, "second")

    for route, topic in (
        ("identity", env.settings.identity_topic),
        ("dropped", env.settings.dropped_topic),
        ("dlq", env.settings.dlq_topic),
    ):
        want = expected_ids(expected, route) if route != "dlq" else None
        got = await env.read(topic, len([o for o in expected if o.route == route]))
        if want is None:
            sent = Counter(o.value for o in expected if o.route == "dlq")
            assert set(Counter(m.value for m in got)) == set(sent)
            continue
        ids = event_ids(got)
        assert want <= set(ids), f"{route}: {len(want - set(ids))} events lost"
        assert set(ids) <= want, f"{route}: unexpected events"


async def test_sigterm_drains_commits_and_exits_zero(
    generated_env: KafkaEnv, tmp_path: Path
) -> None:
    env = generated_env
    records = generated(3000, seed=5)
    await env.produce(records)
    worker = WorkerProcess(env.env(), tmp_path, "worker")
    try:
        await wait_for_outputs(env, env.settings.identity_topic, 300)
        await terminate(worker, 40)
    finally:
        worker.stop()
    assert "stage stopped" in worker.log_text()
    # What was committed is complete: a second worker finishes the rest, nothing is missing.
    await drain(env.env(), tmp_path, "rest")
    want = expected_ids(offline(records, env.settings.numbers), "identity")
    got = event_ids(await env.read(env.settings.identity_topic, len(want)))
    assert want <= set(got)


async def test_two_workers_split_partitions_and_the_survivor_takes_over(
    generated_env: KafkaEnv, tmp_path: Path
) -> None:
    env = generated_env
    one = WorkerProcess(env.env(), tmp_path, "one")
    two = WorkerProcess(env.env(), tmp_path, "two")
    try:
        await asyncio.to_thread(one.wait_for_log, "partitions assigned")
        await asyncio.to_thread(two.wait_for_log, "partitions assigned")
        first_half = generated(1500, seed=21)
        await env.produce(first_half)
        await wait_for_outputs(env, env.settings.identity_topic, 300)
        await terminate(two, 40)
        second_half = generated(1500, seed=22)
        await env.produce(second_half)
        expected = offline(first_half + second_half, env.settings.numbers)
        want = expected_ids(expected, "identity")
        got = event_ids(await env.read(env.settings.identity_topic, len(want), timeout_s=60))
        assert want <= set(got), f"{len(want - set(got))} events lost"
        assert "partitions assigned" in two.log_text()
        # The survivor ended up with every partition (3 in these tests).
        assert one.log_text().count("partitions assigned") >= 2
    finally:
        one.stop()
        two.stop()


async def wait_for_outputs(env: KafkaEnv, topic: str, count: int, timeout_s: float = 60) -> None:
    got = await env.read(topic, count, timeout_s=timeout_s)
    assert len(got) >= count, f"only {len(got)} outputs on {topic} after {timeout_s} s"
