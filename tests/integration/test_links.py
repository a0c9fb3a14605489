"""The links stage on a real broker: links end to end, SIGKILL and restore, a rebalance.

The oracle is the same pure topology run offline on one partition: the links it ends with do
not depend on the order events arrive in (tests/property/test_links_state.py), so whatever the
broker interleaves, the links topic must converge to them.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest

from processor.devkit.publish import publish
from processor.links.lookup import lookup
from processor.links.topology import LinksTopology
from processor.runtime.topics import TopicSpec, ensure_topics, links_topic_specs
from processor.stages.links import LinksHandler
from processor.wiring import StageOptions, serve_links
from schemas.identity import IdentityEvent
from schemas.links import LINK_DECODER
from tests.integration.conftest import KafkaEnv
from tests.integration.test_operations import eventually, free_port, get, scrape
from tests.integration.workers import WorkerProcess
from tests.unit.test_links_events import T0, Links, encoded, identity_event

pytestmark = pytest.mark.integration

Table = dict[str, tuple[str, str, str]]


class LinksProcess(WorkerProcess):
    """`python -m processor links run` with the test's settings in its environment."""

    def __init__(self, env: dict[str, str], log_dir: Path, name: str, *extra: str) -> None:
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "processor", "links", "run", *extra],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
async def links_env(kafka: KafkaEnv) -> KafkaEnv:
    run = uuid.uuid4().hex[:8]
    settings = msgspec.structs.replace(
        kafka.settings, links_topic=f"links.{run}", links_group_id=f"links-{run}"
    )
    specs = [TopicSpec(s.name, 3, s.configs) for s in links_topic_specs(settings)]
    await ensure_topics(settings, specs)
    return KafkaEnv(kafka.broker, settings)


def process_env(env: KafkaEnv) -> dict[str, str]:
    return env.env() | {
        "BSUID_LINKS_TOPIC": env.settings.links_topic,
        "BSUID_LINKS_GROUP_ID": env.settings.links_group_id,
    }


def histories(customers: int, seed: int, first: int = 0) -> list[IdentityEvent]:
    """Customers `first`, `first + 1`... whose BSUIDs change as WhatsApp changes them (see
    the property tests)."""
    rng = random.Random(seed)
    events: list[IdentityEvent] = []
    for customer in range(first, first + customers):
        scope = rng.choice(("acme", "globex"))
        phone, bsuid = f"+1415{customer:07d}", f"US.{customer}x0"
        changes = rng.choices(("continuity", "id_change", "number_change"), k=rng.randint(0, 2))
        for segment, change in enumerate(["", *changes]):
            at = T0 + segment * 1000
            if change:
                previous, bsuid = bsuid, f"US.{customer}x{segment}"
                if change == "number_change":
                    phone = f"+1416{customer:05d}{segment:02d}"
                if change != "continuity":
                    events.append(
                        identity_event(
                            scope=scope,
                            bsuid=bsuid,
                            phone=phone if change == "number_change" else "",
                            previous=previous,
                            event_type="identity_change",
                            status="user_changed_number",
                            at=at,
                        )
                    )
            events += [
                identity_event(scope=scope, bsuid=bsuid, phone=phone, at=at + 10 + offset)
                for offset in range(rng.randint(1, 3))
            ]
    return events


async def produce(env: KafkaEnv, events: list[IdentityEvent]) -> None:
    records = [(e.identity.key.encode(), encoded(e), []) for e in events]
    await publish(env.settings, env.settings.identity_topic, records)


def oracle(events: list[IdentityEvent]) -> Table:
    links = Links()
    links.feed(*events)
    return {key: (link.scope, link.bsuid, link.phone) for key, link in links.table().items()}


def table(messages: list[Any]) -> Table:
    """The compacted view of the links topic: last record per key, tombstones removed."""
    latest: dict[str, Any] = {}
    for message in sorted(messages, key=lambda m: (m.partition, m.offset)):
        latest[message.key.decode()] = message.value
    return {
        key: (link.scope, link.bsuid, link.phone)
        for key, value in latest.items()
        if value is not None
        for link in [LINK_DECODER.decode(value)]
    }


async def converged(env: KafkaEnv, want: Table, timeout_s: float = 60.0) -> Table:
    """The links topic's table once it equals `want` (or whatever it is after `timeout_s`)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    got: Table = {}
    while asyncio.get_running_loop().time() < deadline:
        got = table(await env.read(env.settings.links_topic, 0, timeout_s=1))
        if got == want:
            break
        await asyncio.sleep(0.5)
    return got


async def test_links_end_to_end(links_env: KafkaEnv) -> None:
    env = links_env
    phone, new_phone = "+14155550100", "+14155550999"
    events = [
        identity_event(bsuid="US.A1", phone=phone, username="ana"),
        identity_event(bsuid="US.B1", phone=phone, at=T0 + 10),  # phone continuity
        identity_event(bsuid="US.Q1", phone=phone, scope="globex"),  # another scope
        identity_event(bsuid="US.B1", at=T0 + 20),  # one identifier: looked up, never linked
        identity_event(
            bsuid="US.C1",
            phone=new_phone,
            previous="US.B1",
            event_type="identity_change",
            at=T0 + 30,
        ),
    ]
    options = StageOptions(stop_when_drained=True, install_signal_handlers=False)
    # In two rounds: the rotation A1 -> B1 is seen before Meta says B1 -> C1 (seen after it,
    # B1 would never have been linked, and there would be no rotation to announce).
    await produce(env, events[:4])
    await asyncio.wait_for(serve_links(env.settings, options), 60)
    await produce(env, events[4:])
    stage = await asyncio.wait_for(serve_links(env.settings, options), 60)

    changelog = f"{env.settings.links_group_id}-changelog"
    messages = await env.read(env.settings.links_topic, 6)
    assert (
        table(messages)
        == oracle(events)
        == {
            f"acme/{new_phone}": ("acme", "US.C1", new_phone),
            "acme/US.C1": ("acme", "US.C1", new_phone),
            f"globex/{phone}": ("globex", "US.Q1", phone),
            "globex/US.Q1": ("globex", "US.Q1", phone),
        }
    )
    tombstoned = {m.key.decode() for m in messages if m.value is None}
    assert tombstoned == {f"acme/{phone}", "acme/US.A1", "acme/US.B1"}
    identity = await env.read(env.settings.identity_topic, len(events) + 1)
    announced = [
        msgspec.json.decode(m.value, type=IdentityEvent)
        for m in identity
        if ("identity-derived", b"links") in list(m.headers)
    ]
    # One announcement, for the rotation only phone continuity saw (not the system message's).
    assert [(e.identity.previous_bsuid, e.identity.bsuid) for e in announced] == [
        ("US.A1", "US.B1")
    ]
    assert await env.read(changelog, 1)
    # What `links lookup` (and any consumer of the compacted topic) resolves.
    found = await lookup(env.settings, ["acme/US.C1", f"acme/{new_phone}", "acme/US.B1"])
    assert found["acme/US.C1"] is not None
    assert found["acme/US.C1"].phone == new_phone
    assert found[f"acme/{new_phone}"] == found["acme/US.C1"]
    assert found["acme/US.B1"] is None  # superseded: a tombstone
    # The second run read the first one's state back and went on from its commits.
    handler = stage.handler
    assert isinstance(handler, LinksHandler)
    assert handler.topology.stats.routed == 1  # only the identity_change was left to read
    assert handler.topology.stats.processed == 3  # its copies, one per repartition partition
    assert stage.health.commits >= 1


async def test_sigkill_then_restore_ends_with_the_same_links(
    links_env: KafkaEnv, tmp_path: Path
) -> None:
    env = links_env
    events = histories(3000, seed=7)
    await produce(env, events)
    want = oracle(events)
    # Small batches: the kill lands between many commits and changelog writes.
    small = process_env(env) | {"BSUID_MAX_BATCH_RECORDS": "200"}

    first = LinksProcess(small, tmp_path, "first")
    try:
        changelog = f"{env.settings.links_group_id}-changelog"
        written = await env.read(changelog, 2000, timeout_s=60)
        assert len(written) >= 2000, first.log_text()[-3000:]
        first.kill()
    finally:
        first.stop()
    second = LinksProcess(small, tmp_path, "second", "--exit-when-drained")
    assert await asyncio.to_thread(second.wait, 90) == 0, second.log_text()[-3000:]
    assert await converged(env, want) == want
    # The second worker did start from the first one's state and commits, not from scratch.
    [restored] = second.logged("link state restored")
    [stopped] = second.logged("stage stopped")
    assert restored["records"] > 0
    # It went on from the first one's commits on the identity topic. (Not a bound on the
    # repartition records it processed: those the first routed and the second routed again,
    # at least once, can add up to more than one routing of every event.)
    assert stopped["routed"] < len(events)


async def test_two_workers_and_a_rebalance_keep_consistent_links(
    links_env: KafkaEnv, tmp_path: Path
) -> None:
    env = links_env
    first_half, second_half = histories(800, seed=3), histories(800, seed=4, first=800)
    one = LinksProcess(process_env(env), tmp_path, "one")
    two: LinksProcess | None = None
    try:
        await asyncio.to_thread(one.wait_for_log, "partitions assigned")
        await produce(env, first_half)
        assert await converged(env, oracle(first_half)) == oracle(first_half)
        # A second worker joins: partitions move, each new owner reads its state back.
        two = LinksProcess(process_env(env), tmp_path, "two")
        await asyncio.to_thread(two.wait_for_log, "link state restored")
        await produce(env, second_half)
        want = oracle(first_half + second_half)
        assert await converged(env, want) == want
        # It leaves again: the survivor takes every partition back.
        two.signal(signal.SIGTERM)
        assert await asyncio.to_thread(two.wait, 40) == 0
        more = histories(100, seed=5, first=1600)
        await produce(env, more)
        want = oracle(first_half + second_half + more)
        assert await converged(env, want) == want
        assert len(one.logged("partitions assigned")) >= 3
        # A partition it kept across a rebalance was read back from where its writes ended.
        assert any(
            len(line["from_start"]) < len(line["partitions"])
            for line in one.logged("link state restored")
        )
    finally:
        one.stop()
        if two is not None:
            two.stop()


def no_repeats(messages: list[Any]) -> list[str]:
    """Keys whose links record repeats the one before it: a change published twice (outputs
    of the same input written again after a crash). The state only publishes what changed."""
    last: dict[bytes, bytes | None] = {}
    repeated: list[str] = []
    for message in sorted(messages, key=lambda m: (m.partition, m.offset)):
        if message.key in last and last[message.key] == message.value:
            repeated.append(message.key.decode())
        last[message.key] = message.value
    return repeated


@pytest.mark.requires("transactions")
async def test_exactly_once_links_lose_and_duplicate_nothing_under_sigkill(
    links_env: KafkaEnv, tmp_path: Path
) -> None:
    env = links_env
    events = histories(3000, seed=11)
    await produce(env, events)
    want = oracle(events)
    eos = process_env(env) | {
        "BSUID_GUARANTEE": "exactly-once",
        "BSUID_TRANSACTION_INTERVAL_MS": "100",
        "BSUID_MAX_BATCH_RECORDS": "200",
    }
    for kill in range(3):
        worker = LinksProcess(eos, tmp_path, f"killed{kill}")
        try:
            await asyncio.to_thread(worker.wait_for_log, "partitions assigned")
            await asyncio.sleep(1.0 + kill * 0.7)
            worker.kill()
        finally:
            worker.stop()
    last = LinksProcess(eos, tmp_path, "last", "--exit-when-drained")
    assert await asyncio.to_thread(last.wait, 120) == 0, last.log_text()[-3000:]

    committed = await env.read(
        env.settings.links_topic, len(want), timeout_s=60, isolation_level="read_committed"
    )
    assert table(committed) == want
    assert no_repeats(committed) == []
    # The first sub-topology: every identity record re-keyed exactly once.
    copies = LinksTopology(3)
    expected = sum(len(copies.route(encoded(e))) for e in events)
    repartition = await env.read(
        f"{env.settings.links_group_id}-repartition",
        expected,
        timeout_s=60,
        isolation_level="read_committed",
    )
    assert len(repartition) == expected


async def test_links_run_serves_probes_and_metrics(links_env: KafkaEnv, tmp_path: Path) -> None:
    env = links_env
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    events = histories(300, seed=12)
    worker = LinksProcess(
        process_env(env) | {"BSUID_HTTP_PORT": str(port), "BSUID_HTTP_HOST": "127.0.0.1"},
        tmp_path,
        "probed",
    )
    http = aiohttp.ClientSession()
    try:
        await eventually(lambda: answers(http, base + "/live", 200), 60, "/live answers 200")
        await eventually(lambda: answers(http, base + "/ready", 200), 60, "/ready turns 200")
        samples = await scrape(http, base)
        # Counters exist (at 0) before the first record.
        routed = (
            "bsuid_processor_links_output_records_total",
            frozenset({("destination", "links")}),
        )
        assert samples[routed] == 0
        await produce(env, events)
        identity_in = (
            "bsuid_processor_links_input_records_total",
            frozenset({("topic", env.settings.identity_topic)}),
        )

        async def all_read() -> bool:
            # The stage reads its own announcements back too: at least every event.
            return (await scrape(http, base)).get(identity_in, 0) >= len(events)

        await eventually(all_read, 60, f"{len(events)} identity records counted")

        async def caught_up() -> bool:
            samples = await scrape(http, base)
            lag = [v for (n, _l), v in samples.items() if n == "bsuid_processor_consumer_lag"]
            return len(lag) == 6 and not any(lag)  # identity and repartition, 3 each

        await eventually(caught_up, 60, "consumer lag 0 on all six partitions")
        samples = await scrape(http, base)
        assert samples[routed] > 0
        assert samples[("bsuid_processor_links_rotations_total", frozenset())] >= 0
        assert samples[("bsuid_processor_links_state_links", frozenset())] > 0
        assert samples[("bsuid_processor_ready", frozenset())] == 1
        assert await table_when(env, oracle(events))
    finally:
        await http.close()
        worker.signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 60) == 0, worker.log_text()[-3000:]
        worker.stop()


async def answers(http: aiohttp.ClientSession, url: str, status: int) -> bool:
    try:
        return (await get(http, url))[0] == status
    except aiohttp.ClientConnectionError:
        return False


async def table_when(env: KafkaEnv, want: Table) -> bool:
    return await converged(env, want) == want


async def test_links_run_with_two_processes(links_env: KafkaEnv, tmp_path: Path) -> None:
    env = links_env
    events = histories(600, seed=13)
    await produce(env, events)
    worker = LinksProcess(
        process_env(env), tmp_path, "pair", "--processes", "2", "--exit-when-drained"
    )
    try:
        assert await asyncio.to_thread(worker.wait, 120) == 0, worker.log_text()[-3000:]
    finally:
        worker.stop()
    assert {line.get("process") for line in worker.logged("stage stopped")} == {0, 1}
    assert await table_when(env, oracle(events))
