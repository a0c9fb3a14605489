"""What an on-call engineer sees, on a real broker: both stages export every metric the
dashboard and the alert rules name, counters read 0 before the first record, the latency
histograms fill, and the group lag is read from Kafka for every partition of the group."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from processor.ops.catalog import DEAD_LETTER_CODES
from processor.ops.health import StageHealth
from processor.runtime.aiokafka_private import stop_consumer
from processor.runtime.clients import make_consumer
from processor.runtime.group_lag import GroupLag
from processor.runtime.topics import TopicSpec, ensure_topics, links_topic_specs
from tests.integration.conftest import KafkaEnv
from tests.integration.test_links import LinksProcess, answers, process_env
from tests.integration.test_operations import Samples, eventually, free_port, sample_records, scrape
from tests.integration.workers import WorkerProcess
from tests.monitoring import exported_names_used

pytestmark = pytest.mark.integration


@pytest.fixture
async def stages_env(kafka: KafkaEnv) -> KafkaEnv:
    """`kafka` with the links stage's topics (3 partitions) and group, unique to the test."""
    run = uuid.uuid4().hex[:8]
    settings = msgspec.structs.replace(
        kafka.settings, links_topic=f"links.{run}", links_group_id=f"links-{run}"
    )
    specs = [TopicSpec(s.name, 3, s.configs) for s in links_topic_specs(settings)]
    await ensure_topics(settings, specs)
    return KafkaEnv(kafka.broker, settings)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


def group_lag(samples: Samples, group: str) -> dict[tuple[str, str], float]:
    return {
        (dict(ls)["topic"], dict(ls)["partition"]): v
        for (n, ls), v in samples.items()
        if n == "bsuid_processor_group_lag_records" and dict(ls)["group"] == group
    }


async def test_both_stages_export_what_the_dashboard_and_the_alerts_name(
    stages_env: KafkaEnv, tmp_path: Path
) -> None:
    env, settings = stages_env, stages_env.settings
    ports = free_port(), free_port()
    worker_base, links_base = (f"http://127.0.0.1:{port}" for port in ports)
    base_env = process_env(env) | {"BSUID_HTTP_HOST": "127.0.0.1"}
    worker = WorkerProcess(base_env | {"BSUID_HTTP_PORT": str(ports[0])}, tmp_path, "worker")
    links = LinksProcess(base_env | {"BSUID_HTTP_PORT": str(ports[1])}, tmp_path, "links")
    http = aiohttp.ClientSession()
    try:
        for base in (worker_base, links_base):
            await eventually(lambda b=base: answers(http, b + "/readyz", 200), 90, f"{base} ready")
        # Before any record: every counter is there, at 0, for each known label value.
        before = await scrape(http, worker_base)
        for code in DEAD_LETTER_CODES:
            key = ("bsuid_processor_dead_letters_total", frozenset({("code", code)}))
            assert before[key] == 0, code
        assert before[("bsuid_processor_records_total", frozenset())] == 0
        assert total(before, "bsuid_processor_events_total") == 0
        assert len([k for k in before if k[0] == "bsuid_processor_events_total"]) >= 2 * 3 * 9
        links_before = await scrape(http, links_base)
        assert total(links_before, "bsuid_processor_links_output_records_total") == 0
        assert total(links_before, "bsuid_processor_links_tombstones_total") == 0

        records = sample_records()
        await env.produce(records)

        async def worker_caught_up() -> bool:
            samples = await scrape(http, worker_base)
            lag = [v for (n, _l), v in samples.items() if n == "bsuid_processor_consumer_lag"]
            return (
                samples[("bsuid_processor_records_total", frozenset())] == len(records)
                and samples[("bsuid_processor_in_flight_records", frozenset())] == 0
                and bool(lag)
                and not any(lag)
            )

        await eventually(worker_caught_up, 90, "worker: all records read and committed")
        committed_at = time.time()

        async def lag_read_since(base: str, group: str, partitions: int) -> bool:
            samples = await scrape(http, base)
            read_at = samples[("bsuid_processor_group_lag_read_timestamp_seconds", frozenset())]
            lag = group_lag(samples, group)
            return read_at > committed_at and len(lag) == partitions and not any(lag.values())

        # Read from Kafka after the commits: the group lag is 0 on every partition.
        await eventually(
            lambda: lag_read_since(worker_base, settings.group_id, 3), 60, "worker group lag 0"
        )

        async def links_read() -> bool:
            samples = await scrape(http, links_base)
            return total(samples, "bsuid_processor_links_input_records_total") > 0

        await eventually(links_read, 90, "links: identity events read")
        # identity and repartition topics, 3 partitions each
        await eventually(
            lambda: lag_read_since(links_base, settings.links_group_id, 6), 90, "links group lag 0"
        )
        worker_samples = await scrape(http, worker_base)
        links_samples = await scrape(http, links_base)

        raw_age = (
            "bsuid_processor_record_age_seconds_count",
            frozenset({("topic", env.settings.raw_topic)}),
        )
        assert worker_samples[raw_age] == len(records)
        assert worker_samples[("bsuid_processor_record_wait_seconds_count", frozenset())] == len(
            records
        )
        identity_age = (
            "bsuid_processor_record_age_seconds_count",
            frozenset({("topic", settings.identity_topic)}),
        )
        assert links_samples[identity_age] > 0
        info = [ls for (n, ls) in worker_samples if n == "bsuid_processor_build_info"]
        assert [dict(ls)["stage"] for ls in info] == ["identity"]
        info = [ls for (n, ls) in links_samples if n == "bsuid_processor_build_info"]
        assert [dict(ls)["stage"] for ls in info] == ["links"]

        exported = {name for name, _labels in [*worker_samples, *links_samples]}
        missing = exported_names_used() - exported
        assert not missing, f"named by the dashboard or the rules, not exported: {missing}"
    finally:
        await http.close()
        for process in (worker, links):
            process.signal(signal.SIGTERM)
        for process in (worker, links):
            assert await asyncio.to_thread(process.wait, 60) == 0, process.log_text()[-3000:]
            process.stop()


async def commit(env: KafkaEnv, offsets: dict[TopicPartition, int]) -> None:
    """Commit `offsets` for the test's group without joining it (a standalone commit)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=env.broker.bootstrap_servers,
        group_id=env.settings.group_id,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def produce_batches(env: KafkaEnv, batches: int, per_batch: int) -> None:
    """Several produce calls: several record batches per partition (Tansu's ListOffsets then
    answers the last batch's base offset + 1, not the end)."""
    body = b'{"object": "whatsapp_business_account", "entry": []}'
    for batch in range(batches):
        await env.produce([(f"k{batch}-{i}".encode(), body, []) for i in range(per_batch)])


async def partitions(env: KafkaEnv) -> tuple[dict[TopicPartition, int], list[TopicPartition]]:
    """End offsets (read from fetch responses, right on every broker) of the raw topic."""
    consumer = make_consumer(env.settings, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(env.settings.raw_topic, p) for p in range(3)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends: dict[TopicPartition, int] = {}
        deadline = asyncio.get_running_loop().time() + 30
        while len(ends) < len(tps) and asyncio.get_running_loop().time() < deadline:
            await consumer.getmany(timeout_ms=200)
            ends = {tp: consumer.highwater(tp) for tp in tps if consumer.highwater(tp) is not None}
        return ends, tps
    finally:
        await consumer.stop()


async def read_lag(env: KafkaEnv, consumer: Any) -> dict[tuple[str, str, int], int]:
    lag = GroupLag(env.settings, consumer, [env.settings.raw_topic], StageHealth())
    try:
        return await lag.read()
    finally:
        await lag.close()


@pytest.mark.requires("exact_end_offsets")
async def test_group_lag_covers_every_partition_of_the_group(kafka: KafkaEnv) -> None:
    """Partitions this process does not hold: end offsets from ListOffsets (exact on Apache
    Kafka), committed offsets from the group; never committed counts from the beginning."""
    await produce_batches(kafka, 3, 60)
    ends, tps = await partitions(kafka)
    await commit(kafka, {tps[0]: 5, tps[1]: ends[tps[1]]})
    consumer = make_consumer(kafka.settings, group_id=None)
    await consumer.start()
    try:
        lag = await read_lag(kafka, consumer)
    finally:
        await stop_consumer(consumer)  # never assigned: see aiokafka_private
    group, topic = kafka.settings.group_id, kafka.settings.raw_topic
    assert lag == {
        (group, topic, 0): ends[tps[0]] - 5,
        (group, topic, 1): 0,
        (group, topic, 2): ends[tps[2]],
    }


async def test_group_lag_is_exact_for_held_partitions_on_every_broker(kafka: KafkaEnv) -> None:
    """Partitions this process holds: the fetch responses' high watermark, right on Tansu too."""
    await produce_batches(kafka, 3, 60)
    ends, tps = await partitions(kafka)
    await commit(kafka, dict.fromkeys(tps, 1))
    consumer = make_consumer(kafka.settings, group_id=None)
    await consumer.start()
    try:
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, 1)
        deadline = asyncio.get_running_loop().time() + 30
        while asyncio.get_running_loop().time() < deadline:
            await consumer.getmany(timeout_ms=200)
            if all(consumer.highwater(tp) == ends[tp] for tp in tps):
                break
        lag = await read_lag(kafka, consumer)
    finally:
        await consumer.stop()
    group, topic = kafka.settings.group_id, kafka.settings.raw_topic
    assert lag == {(group, topic, tp.partition): ends[tp] - 1 for tp in tps}
