"""Bounded replay and live enablement with event-time gating, on a real broker."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from processor.core.control import next_change
from processor.runtime.stage import Stage
from processor.settings import load_registry
from processor.stages.replay import ReplayPlan
from processor.wiring import StageOptions, build_pipeline, serve_identity
from processor.wiring import run_replay as replay
from schemas.control import EnablementState
from tests.integration.conftest import FIXTURES, KafkaEnv

pytestmark = pytest.mark.integration

NUMBER_B = "+15551230002"  # in the fixture registry, scope acme, not enabled
FLIP = datetime(2026, 6, 21, 12, 0, tzinfo=UTC)


def bsuid_only_on_b(wamid: str, when: datetime) -> bytes:
    """A phone-less customer writing to number B at `when`."""
    body: Any = json.loads((FIXTURES / "webhooks" / "meta_inbound_bsuid_only.json").read_bytes())
    value = body["entry"][0]["changes"][0]["value"]
    value["metadata"] = {
        "display_phone_number": "15551230002",
        "phone_number_id": "200000000000002",
    }
    value["messages"][0]["id"] = wamid
    value["messages"][0]["timestamp"] = str(int(when.timestamp()))
    return json.dumps(body).encode()


async def publish_control(env: KafkaEnv, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=env.broker.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(env.settings.control_topic, value, key=key)
    finally:
        await producer.stop()


def enable_b_at(when: datetime) -> bytes:
    state = EnablementState(
        number=NUMBER_B,
        phone_number_id="200000000000002",
        scope="acme",
        bsuid_enabled=True,
        effective_at=when,
    )
    return next_change(None, state)


def decisions(messages: list[Any]) -> dict[str, str]:
    return {
        json.loads(m.value)["eventId"]: json.loads(m.value)["gate"]["decision"] for m in messages
    }


async def run_replay(env: KafkaEnv, plan: ReplayPlan) -> Any:
    pipeline = build_pipeline(env.settings, load_registry(env.settings.numbers))
    return await asyncio.wait_for(replay(env.settings, pipeline, plan), 120)


def sample_records(count: int) -> list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]:
    bodies = sorted((FIXTURES / "webhooks").glob("meta_*.json"))
    records = []
    for i in range(count):
        body: Any = json.loads(bodies[i % len(bodies)].read_bytes())
        for entry in body.get("entry", []):
            for change in entry.get("changes", []):
                for item in change.get("value", {}).get("messages", []):
                    item["id"] = f"{item.get('id')}.{i}"
        records.append((f"k{i % 7}".encode(), json.dumps(body).encode(), []))
    return records


async def test_two_replays_of_a_range_give_identical_events(kafka: KafkaEnv) -> None:
    await kafka.produce(sample_records(300))
    first = await run_replay(kafka, ReplayPlan(output_suffix=".a"))
    second = await run_replay(kafka, ReplayPlan(output_suffix=".b"))
    assert first.stats.records == second.stats.records == 300
    s = kafka.settings
    a = await kafka.read(s.identity_topic + ".a", first.stats.by_route()["identity"])
    b = await kafka.read(s.identity_topic + ".b", second.stats.by_route()["identity"])
    assert a, "nothing replayed"
    assert decisions(a) == decisions(b)
    assert sorted((m.key, json.loads(m.value)["eventId"]) for m in a) == sorted(
        (m.key, json.loads(m.value)["eventId"]) for m in b
    )
    # A backfill never writes to the live topics.
    assert await kafka.read(s.identity_topic, 0, timeout_s=1) == []


async def test_replay_stops_at_the_end_as_of_its_start(kafka: KafkaEnv) -> None:
    before = sample_records(400)
    await kafka.produce(before)
    tasks: list[asyncio.Task[None]] = []
    stop = asyncio.Event()

    async def produce_behind(ends: dict[Any, int]) -> None:
        assert sum(ends.values()) == len(before)
        tasks.append(asyncio.create_task(_keep_producing(kafka, stop)))
        await kafka.produce(sample_records(100))  # behind the end before reading starts

    try:
        result = await run_replay(
            kafka, ReplayPlan(output_suffix=".bf", on_range_fixed=produce_behind)
        )
    finally:
        # A flag, not cancel(): on Python 3.11 a cancellation landing inside the producer's
        # own wait_for can be swallowed (gh-86296), and the task would produce forever.
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert result.stats.records == len(before)


async def _keep_producing(env: KafkaEnv, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await env.produce(sample_records(50))


async def test_replay_from_a_time_and_from_explicit_offsets(kafka: KafkaEnv) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.broker.bootstrap_servers)
    await producer.start()
    early = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
    late = int(datetime(2026, 6, 1, tzinfo=UTC).timestamp() * 1000)
    records = sample_records(40)
    try:
        for i, (_key, value, _headers) in enumerate(records):
            await producer.send_and_wait(
                kafka.settings.raw_topic, value, key=b"one", timestamp_ms=early if i < 25 else late
            )
    finally:
        await producer.stop()
    since = await run_replay(
        kafka, ReplayPlan(start=datetime(2026, 3, 1, tzinfo=UTC), output_suffix=".t")
    )
    assert since.stats.records == 15
    partition = (await kafka.read(kafka.settings.raw_topic, 40))[0].partition
    from_offset = await run_replay(kafka, ReplayPlan(start={partition: 30}, output_suffix=".o"))
    assert from_offset.stats.records == 10
    until = await run_replay(
        kafka,
        ReplayPlan(
            to_ms=int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1000), output_suffix=".u"
        ),
    )
    assert until.stats.records == 25


async def test_enablement_flip_gates_by_event_time_live_and_on_replay(kafka: KafkaEnv) -> None:
    hour = 3600
    events = [
        (f"wamid.before{i}", datetime.fromtimestamp(FLIP.timestamp() - hour * (i + 1), UTC))
        for i in range(3)
    ] + [
        (f"wamid.after{i}", datetime.fromtimestamp(FLIP.timestamp() + hour * (i + 1), UTC))
        for i in range(3)
    ]
    await publish_control(kafka, NUMBER_B.encode(), enable_b_at(FLIP))
    started = asyncio.Event()
    workers: list[Stage] = []

    async def on_started(worker: Stage) -> None:
        workers.append(worker)
        started.set()

    pipeline = build_pipeline(kafka.settings, load_registry(kafka.settings.numbers))
    options = StageOptions(install_signal_handlers=False, on_started=on_started)
    live = asyncio.create_task(serve_identity(kafka.settings, pipeline, options))
    try:
        await asyncio.wait_for(started.wait(), 60)
        await kafka.produce([(b"b", bsuid_only_on_b(w, t), []) for w, t in events])
        s = kafka.settings
        identity = await kafka.read(s.identity_topic, 3)
        dropped = await kafka.read(s.dropped_topic, 3)
    finally:
        workers[0].request_stop()
        await asyncio.wait_for(live, 60)
    assert sorted(json.loads(m.value)["message"]["id"] for m in identity) == [
        f"wamid.after{i}" for i in range(3)
    ]
    assert sorted(json.loads(m.value)["message"]["id"] for m in dropped) == [
        f"wamid.before{i}" for i in range(3)
    ]
    # A replay long after the flip gates old traffic as it was gated then.
    result = await run_replay(kafka, ReplayPlan(output_suffix=".r"))
    assert dict(result.stats.by_route()) == {"identity": 3, "dropped": 3, "dlq": 0}


async def test_malformed_control_record_is_dead_lettered_and_changes_nothing(
    kafka: KafkaEnv,
) -> None:
    await publish_control(kafka, NUMBER_B.encode(), b'{"number": "+15551230002", "scope": 7}')
    await publish_control(
        kafka, b"+15551230002", enable_b_at(FLIP).replace(b"+15551230002", b"12345")
    )
    when = datetime.fromtimestamp(FLIP.timestamp() + 3600, UTC)
    await kafka.produce([(b"b", bsuid_only_on_b("wamid.x", when), [])])
    result = await run_replay(kafka, ReplayPlan(output_suffix=".m"))
    assert dict(result.stats.by_route()) == {"dropped": 1, "dlq": 0}
    letters = await kafka.read(kafka.settings.dlq_topic, 2)
    assert [dict(m.headers)["dlq.error.code"] for m in letters] == [b"invalid_control"] * 2
    assert {dict(m.headers)["dlq.source.topic"] for m in letters} == {
        kafka.settings.control_topic.encode()
    }


async def test_replay_with_a_group_keeps_its_end_and_resumes_from_commits(
    kafka: KafkaEnv,
) -> None:
    await kafka.produce(sample_records(200))

    async def crash(_ends: dict[Any, int]) -> None:
        raise RuntimeError("replay killed right after fixing its range")

    group = f"{kafka.settings.group_id}.replay"
    with pytest.raises(RuntimeError, match="killed"):
        await run_replay(kafka, ReplayPlan(group=group, output_suffix=".g", on_range_fixed=crash))
    await kafka.produce(sample_records(30))
    # The rerun stops at the end its first run fixed, not at today's end.
    resumed = await run_replay(kafka, ReplayPlan(group=group, output_suffix=".g"))
    assert resumed.stats.records == 200
    # Finished, the group forgets that end: the next run goes from its commits to the new end.
    again = await run_replay(kafka, ReplayPlan(group=group, output_suffix=".g"))
    assert again.stats.records == 30
