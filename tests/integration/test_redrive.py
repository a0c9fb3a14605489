"""`dlq inspect` and `dlq redrive` as an operator runs them, on each broker: records signed with
a secret the worker does not have are dead-lettered (`bad_signature`); with the right secret,
a redrive publishes each exactly once, with the events the first processing would have given;
a second redrive adds nothing; what fails again is parked, and redriven from there."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections import Counter
from typing import Any

import msgspec
import pytest

from processor.core.pipeline import Pipeline
from processor.core.records import InputRecord
from processor.core.signature import SigningSecrets, sign_meta
from processor.settings import load_registry
from processor.wiring import StageOptions, build_pipeline, serve_identity
from tests.integration.conftest import KafkaEnv
from tests.integration.test_replay_and_enablement import sample_records

pytestmark = pytest.mark.integration

RIGHT, WRONG = "right-Q7x-secret", "wrong-c4Z-secret"
Record = tuple[bytes | None, bytes, list[tuple[str, bytes]]]


def signed(count: int) -> list[Record]:
    """Meta bodies (unique message ids) signed with the right secret."""
    return [
        (key, body, [("x-hub-signature-256", sign_meta(body, RIGHT.encode()))])
        for key, body, _ in sample_records(count)
    ]


async def dead_letter_all(
    env: KafkaEnv, records: list[Record], guarantee: str = "at-least-once"
) -> None:
    """Produce, and let a worker that has the wrong secret dead-letter every record."""
    await env.produce(records)
    settings = msgspec.structs.replace(env.settings, meta_app_secret=WRONG, guarantee=guarantee)
    pipeline = build_pipeline(settings, load_registry(settings.numbers))
    options = StageOptions(stop_when_drained=True, install_signal_handlers=False)
    await asyncio.wait_for(serve_identity(settings, pipeline, options), 120)
    assert dict(pipeline.stats.dead_letters) == {"bad_signature": len(records)}


def dlq(env: KafkaEnv, *args: str, secret: str = RIGHT) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "processor", "dlq", *args],
        env=env.env() | {"META_APP_SECRET": secret, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    return done


def counted(output: str, what: str) -> int:
    match = re.search(rf"{re.escape(what)}\s*[│|]\s*([\d,]+)", output)
    assert match is not None, f"{what!r} not in the summary:\n{output[-3000:]}"
    return int(match.group(1).replace(",", ""))


async def first_time(env: KafkaEnv, count: int) -> dict[str, Counter[bytes]]:
    """The outputs the right pipeline gives for the raw records at their own coordinates:
    what the worker would have published had it had the right secret."""
    pipeline = Pipeline(
        registry=load_registry(env.settings.numbers),
        secrets=SigningSecrets(meta=RIGHT.encode()),
    )
    outputs: dict[str, Counter[bytes]] = {"identity": Counter(), "dropped": Counter()}
    for m in await env.read(env.settings.raw_topic, count):
        record = InputRecord(m.value, m.key, list(m.headers), m.topic, m.partition, m.offset)
        pipeline.process(record, lambda o: outputs[o.route].update([o.value]))
    return outputs


async def read_values(env: KafkaEnv, topic: str, expected: int, isolation: str) -> Counter[bytes]:
    messages = await env.read(topic, expected, isolation_level=isolation)
    return Counter(m.value for m in messages)


async def check_redriven_once(env: KafkaEnv, count: int, isolation: str) -> None:
    want = await first_time(env, count)
    s = env.settings
    identity = await read_values(env, s.identity_topic, sum(want["identity"].values()), isolation)
    dropped = await read_values(env, s.dropped_topic, sum(want["dropped"].values()), isolation)
    # Byte for byte the events of the first processing (same eventIds, same source), once each.
    assert identity == want["identity"]
    assert dropped == want["dropped"]
    assert sum(identity.values()) > 0


async def test_redrive_after_the_secret_is_fixed_publishes_each_record_once(
    kafka: KafkaEnv,
) -> None:
    records = signed(40)
    await dead_letter_all(kafka, records)
    s = kafka.settings

    shown = dlq(kafka, "inspect", "--json")
    found: Any = json.loads(shown.stdout)
    assert found["by_code"] == {"bad_signature": 40}
    assert found["by_source_topic"] == {s.raw_topic: 40}
    assert found["by_redrive_attempt"] == {"0": 40}
    assert "+14155550123" not in shown.stdout  # a phone in the sample bodies
    assert '"messages"' not in shown.stdout  # no body
    table = dlq(kafka, "inspect").stdout
    assert counted(table, "code bad_signature") == 40

    dry = dlq(kafka, "redrive", "--dry-run")
    assert counted(dry.stdout, "redriven") == 40
    assert await kafka.read(s.identity_topic, 0, timeout_s=1) == []

    done = dlq(kafka, "redrive")
    assert counted(done.stdout, "dead letters read") == 40
    assert counted(done.stdout, "redriven") == 40
    await check_redriven_once(kafka, len(records), "read_uncommitted")
    assert await kafka.read(s.parked_topic, 0, timeout_s=1) == []

    again = dlq(kafka, "redrive")
    assert counted(again.stdout, "dead letters read") == 0
    await check_redriven_once(kafka, len(records), "read_uncommitted")


@pytest.mark.requires("transactions")
async def test_exactly_once_redrive_publishes_each_record_once(kafka: KafkaEnv) -> None:
    records = signed(40)
    # Dead letters written in transactions: the range ends on a commit marker, not a record.
    await dead_letter_all(kafka, records, guarantee="exactly-once")
    done = dlq(kafka, "redrive", "--guarantee", "exactly-once")
    assert counted(done.stdout, "redriven") == 40
    await check_redriven_once(kafka, len(records), "read_committed")
    again = dlq(kafka, "redrive", "--guarantee", "exactly-once")
    assert counted(again.stdout, "dead letters read") == 0
    await check_redriven_once(kafka, len(records), "read_committed")


async def test_what_fails_again_is_parked_and_redriven_from_there(kafka: KafkaEnv) -> None:
    records = signed(6)
    await dead_letter_all(kafka, records)
    s = kafka.settings
    failed = dlq(kafka, "redrive", secret="still-wrong")
    assert counted(failed.stdout, f"failed again (published to {s.parked_topic})") == 6
    parked = await kafka.read(s.parked_topic, 6)
    assert len(parked) == 6
    assert {dict(m.headers)["dlq.redrive.attempt"] for m in parked} == {b"1"}
    assert sorted(m.value for m in parked) == sorted(value for _, value, _ in records)
    # The dead-letter topic is the worker's alone: still the 6 first failures.
    assert len(await kafka.read(s.dlq_topic, 6)) == 6
    assert counted(dlq(kafka, "inspect", "--parked").stdout, "failed 1 redrive(s)") == 6

    dlq(kafka, "redrive", "--parked")
    await check_redriven_once(kafka, len(records), "read_uncommitted")
    again = dlq(kafka, "redrive", "--parked")
    assert counted(again.stdout, "dead letters read") == 0
    assert len(await kafka.read(s.parked_topic, 6)) == 6
