"""The worker rides out a broker failure on a 3-node Apache Kafka: no restart, nothing lost.

A worker subprocess processes generated traffic on topics with replication factor 3 and
`min.insync.replicas=2`. Mid-stream one broker is SIGKILLed (the one leading most partitions,
then the active KRaft controller): the same worker process must keep publishing, the node is
restarted and rejoins the ISR, the worker drains on SIGTERM and exits 0, and every expected
output (compared with the offline pipeline) is on its topic. Duplicates are allowed
(at-least-once: a rewind re-publishes since the last commit), counted and printed.

Starts its own cluster whatever $BROKER or $KAFKA_BOOTSTRAP_SERVERS say (nodes must be killed),
and is skipped when java 17+ / mvn are missing.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from processor.core.pipeline import Pipeline
from processor.core.records import Headers, InputRecord, OutputRecord
from processor.devkit.brokers.apache_kafka import ApacheKafkaCluster
from processor.devkit.brokers.select import BrokerUnavailableError, start_multi_broker_cluster
from processor.devkit.generate import GeneratedRecord, demo_registry_toml, generate
from processor.devkit.publish import publish
from processor.runtime.topics import TopicSpec, ensure_topics, topic_specs
from processor.settings import load_registry, load_settings
from schemas.settings import Settings
from tests.integration.conftest import KafkaEnv
from tests.integration.workers import WorkerProcess
from tests.output_tail import OutputTail

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

RECORDS = 20_000
#: Published before the worker starts; the rest while the killed broker is still down.
FIRST_PART = 15_000
#: Small batches so that the worker is still busy when the broker dies.
MAX_BATCH_RECORDS = 500
ROUTES = ("identity", "dropped", "dlq")


@pytest.fixture(scope="module")
def cluster() -> Iterator[ApacheKafkaCluster]:
    try:
        handle = start_multi_broker_cluster(3)
    except BrokerUnavailableError as unavailable:
        pytest.skip(f"failover tests need a local 3-node Apache Kafka: {unavailable}")
    yield handle
    handle.stop()


# -- helpers -----------------------------------------------------------------------------------


def failover_settings(cluster: ApacheKafkaCluster, numbers: Path) -> Settings:
    run = uuid.uuid4().hex[:8]
    return load_settings(
        {
            "bootstrap_servers": cluster.bootstrap_servers,
            "raw_topic": f"fo-raw.{run}",
            "identity_topic": f"fo-identity.{run}",
            "dropped_topic": f"fo-dropped.{run}",
            "dlq_topic": f"fo-dlq.{run}",
            "control_topic": f"fo-control.{run}",
            "replay_state_topic": f"fo-replay.{run}",
            "group_id": f"fo-group.{run}",
            "numbers": str(numbers),
            "topic_partitions": 6,
            "replication_factor": 3,
            # Apache Kafka refuses sessions under group.min.session.timeout.ms (6 s).
            "session_timeout_ms": 6000,
            "heartbeat_interval_ms": 500,
            "max_batch_records": MAX_BATCH_RECORDS,
            "http_port": 0,
            "shutdown_timeout_s": 30,
        },
        environ={},
    )


async def create_replicated_topics(cluster: ApacheKafkaCluster, settings: Settings) -> None:
    specs = [
        TopicSpec(spec.name, spec.partitions, {**spec.configs, "min.insync.replicas": "2"})
        for spec in topic_specs(settings)
    ]
    await ensure_topics(settings, specs)
    for spec in specs:
        await asyncio.to_thread(cluster.wait_until_replicated, spec.name)
    state = cluster.metadata().partitions
    assert sorted(state[settings.raw_topic, 0].replicas) == [1, 2, 3]
    assert len([1 for (topic, _) in state if topic == settings.identity_topic]) == 6


def offline(records: list[GeneratedRecord], numbers: str) -> list[OutputRecord]:
    """The same pure pipeline, offline: the oracle for the live worker."""
    pipeline = Pipeline(registry=load_registry(numbers))
    outputs: list[OutputRecord] = []
    for r in records:
        pipeline.process(InputRecord(value=r.value, key=r.key, headers=r.headers), outputs.append)
    return outputs


def raw(part: list[GeneratedRecord]) -> Iterator[tuple[bytes | None, bytes, Headers]]:
    return ((r.key, r.value, r.headers) for r in part)


def output_key(route: str, value: bytes) -> str | bytes:
    """What identifies an output: the eventId, or the original bytes for a dead letter."""
    return value if route == "dlq" else str(json.loads(value)["eventId"])


class Observer(OutputTail):
    """Reads the three output topics from the start while the test runs, with arrival times."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.arrivals: list[tuple[float, str, int]] = []  # (time, topic, partition)
        self.seen: dict[str, Counter[str | bytes]] = {route: Counter() for route in ROUTES}

    @property
    def count(self) -> int:
        return len(self.arrivals)

    def see(self, route: str, message: Any) -> None:
        self.seen[route][output_key(route, message.value or b"")] += 1
        self.arrivals.append((time.monotonic(), message.topic, message.partition))

    async def wait_for(self, check: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
            await asyncio.sleep(0.05)

    def first_arrival_after(self, moment: float, partitions: set[tuple[str, int]]) -> float | None:
        for at, topic, partition in self.arrivals:
            if at > moment and (topic, partition) in partitions:
                return at
        return None

    def longest_gap_after(self, moment: float) -> float:
        times = [moment] + [at for at, _, _ in self.arrivals if at > moment]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


async def wait_all_committed(settings: Settings, worker: WorkerProcess, timeout_s: float) -> None:
    """Until the worker's group committed every raw partition up to its end offset."""
    partitions = [TopicPartition(settings.raw_topic, p) for p in range(settings.topic_partitions)]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            assert worker.process.poll() is None, f"worker died:\n{worker.log_text()[-3000:]}"
            try:
                ends = await asyncio.wait_for(consumer.end_offsets(partitions), 15)
                committed = await asyncio.wait_for(
                    admin.list_consumer_group_offsets(settings.group_id, partitions=partitions), 15
                )
                if all(tp in committed and committed[tp].offset >= ends[tp] for tp in ends):
                    return
            except Exception as exc:  # a metadata hiccup right after the failover: ask again
                print(f"commit check failed, retrying: {exc!r}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"inputs not all committed in {timeout_s:.0f} s:\n{worker.log_text()[-3000:]}"
                )
            await asyncio.sleep(0.5)
    finally:
        await consumer.stop()
        await admin.close()


def affected_partitions(
    cluster: ApacheKafkaCluster, victim: int, topics: list[str]
) -> set[tuple[str, int]]:
    return {
        key
        for key, state in cluster.metadata().partitions.items()
        if key[0] in topics and state.leader == victim
    }


def leaders_moved(cluster: ApacheKafkaCluster, victim: int, topics: list[str]) -> bool:
    mine = [s for (t, _), s in cluster.metadata().partitions.items() if t in topics]
    return bool(mine) and all(s.leader not in (victim, -1) for s in mine)


async def wait_leaders_moved(
    cluster: ApacheKafkaCluster, victim: int, topics: list[str], timeout_s: float = 30
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if await asyncio.to_thread(leaders_moved, cluster, victim, topics):
                return
        except (OSError, ConnectionError):
            pass  # a survivor briefly not answering
        if time.monotonic() > deadline:
            raise AssertionError(f"no new leaders for node {victim}'s partitions in {timeout_s} s")
        await asyncio.sleep(0.05)


# -- the scenario ------------------------------------------------------------------------------


async def run_failover(
    cluster: ApacheKafkaCluster,
    tmp_path: Path,
    pick_victim: Callable[[ApacheKafkaCluster], int],
    label: str,
) -> None:
    numbers = tmp_path / "numbers.toml"
    numbers.write_text(demo_registry_toml())
    settings = failover_settings(cluster, numbers)
    await create_replicated_topics(cluster, settings)
    topics = [spec.name for spec in topic_specs(settings)]
    records = list(generate(RECORDS, seed=31))
    expected = offline(records, settings.numbers)
    want = {
        route: Counter(output_key(route, o.value) for o in expected if o.route == route)
        for route in ROUTES
    }

    await publish(settings, settings.raw_topic, raw(records[:FIRST_PART]))
    observer = Observer(settings)
    observer.start()
    env = KafkaEnv(cluster.running_broker(), settings).env()
    env["BSUID_MAX_BATCH_RECORDS"] = str(MAX_BATCH_RECORDS)
    env["BSUID_LOG_LEVEL"] = "info"
    worker = WorkerProcess(env, tmp_path, f"worker-{label}")
    victim = -1
    try:
        pid = worker.process.pid
        await observer.wait_for(lambda: observer.count >= 2000, 60, "the first 2000 outputs")

        victim = pick_victim(cluster)
        affected = affected_partitions(cluster, victim, topics)
        outputs = set(observer.routes)
        # Resumption is timed on the output partitions it led (on all, if it led none of them).
        watched = {tp for tp in affected if tp[0] in outputs} or {
            (t, p) for t in outputs for p in range(settings.topic_partitions)
        }
        before = observer.count
        killed_at = time.monotonic()
        await asyncio.to_thread(cluster.kill, victim)
        await wait_leaders_moved(cluster, victim, topics)
        elected_s = time.monotonic() - killed_at
        # New input while the node is still down: the worker must read and publish it too.
        await publish(settings, settings.raw_topic, raw(records[FIRST_PART:]))
        await observer.wait_for(
            lambda: observer.first_arrival_after(killed_at, watched) is not None,
            60,
            f"outputs on the partitions node {victim} led",
        )
        resumed = observer.first_arrival_after(killed_at, watched)
        assert resumed is not None
        resumed_s = resumed - killed_at
        assert observer.count > before, "no output after the kill"
        assert worker.process.poll() is None, f"worker died:\n{worker.log_text()[-3000:]}"
        assert worker.process.pid == pid

        restart_started = time.monotonic()
        await asyncio.to_thread(cluster.restart, victim)
        for topic in topics:
            await asyncio.to_thread(cluster.wait_until_replicated, topic, 60)
        rejoined_s = time.monotonic() - restart_started

        await wait_all_committed(settings, worker, timeout_s=90)
        assert worker.process.poll() is None, f"worker died:\n{worker.log_text()[-3000:]}"
        worker.signal(signal.SIGTERM)
        code = await asyncio.to_thread(worker.wait, 60)
        assert code == 0, worker.log_text()[-3000:]
        assert worker.process.pid == pid  # one worker process from start to end

        def complete() -> bool:
            return all(set(want[r]) <= set(observer.seen[r]) for r in ROUTES)

        await observer.wait_for(complete, 60, "every expected output")
        await asyncio.sleep(1.0)  # strays and late duplicates
    except BaseException:
        cluster.keep_logs = True
        print(f"broker logs kept in {cluster.log_path}, worker log in {worker.log_path}")
        raise
    finally:
        worker.stop()
        await observer.stop()
        if victim > 0 and victim not in {n.node_id for n in cluster.live_nodes()}:
            await asyncio.to_thread(cluster.restart, victim)  # leave 3 nodes for the next test

    log = worker.log_text()
    rewinds = log.count("rewinding to the last commit")
    duplicates = {}
    for route in ROUTES:
        got = observer.seen[route]
        assert set(want[route]) <= set(got), f"{route}: {len(set(want[route]) - set(got))} lost"
        assert set(got) <= set(want[route]), f"{route}: {len(set(got) - set(want[route]))} strays"
        duplicates[route] = sum((got - want[route]).values())
    print(
        f"\n[{label}] killed node {victim} (led {len(affected)} of our partitions) after "
        f"{before} outputs; "
        f"new leaders after {elected_s:.1f} s, outputs on its partitions resumed after "
        f"{resumed_s:.1f} s, longest output gap {observer.longest_gap_after(killed_at):.1f} s; "
        f"restart + back in ISR {rejoined_s:.1f} s; {len(expected)} expected outputs, "
        f"{observer.count} read, duplicates {duplicates}, worker rewinds {rewinds}"
    )


async def test_leader_kill_keeps_the_worker_going(
    cluster: ApacheKafkaCluster, tmp_path: Path
) -> None:
    def busiest(c: ApacheKafkaCluster) -> int:
        return c.leader_counts().most_common(1)[0][0]

    await run_failover(cluster, tmp_path, busiest, "leader")


async def test_controller_kill_keeps_the_worker_going(
    cluster: ApacheKafkaCluster, tmp_path: Path
) -> None:
    await run_failover(cluster, tmp_path, ApacheKafkaCluster.controller_id, "controller")
