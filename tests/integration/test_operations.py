"""Operating a live worker: probes before and after the group assigns partitions, metrics that
count what was produced, the endpoint gone once the worker stops, and no secret in its logs."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from processor.core.pipeline import Pipeline
from processor.core.records import InputRecord
from processor.core.stats import PipelineStats
from processor.ops.metrics import DECISIONS
from processor.runtime.stage import Stage
from processor.settings import load_registry
from processor.wiring import StageOptions, build_pipeline, serve_identity
from tests.integration.conftest import FIXTURES, KafkaEnv
from tests.integration.workers import WorkerProcess

pytestmark = pytest.mark.integration

Record = tuple[bytes | None, bytes, list[tuple[str, bytes]]]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def sample_records() -> list[Record]:
    """Every sample body under several keys (so several partitions), plus one malformed."""
    bodies = [
        json.dumps(json.loads(path.read_bytes())).encode()
        for path in sorted((FIXTURES / "webhooks").glob("*.json"))
    ]
    records: list[Record] = [(f"k{i % 5}".encode(), body, []) for i, body in enumerate(bodies)]
    records.append((b"k0", b"{not json", [("webhook-source", b"meta")]))
    return records


def offline_stats(records: list[Record], numbers: str) -> PipelineStats:
    pipeline = Pipeline(registry=load_registry(numbers))
    for key, value, headers in records:
        pipeline.process(InputRecord(value=value, key=key, headers=headers), lambda _out: None)
    return pipeline.stats


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url) as response:
        return response.status, await response.text()


async def scrape(http: aiohttp.ClientSession, base: str) -> Samples:
    status, text = await get(http, base + "/metrics")
    assert status == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.2)


async def test_probes_and_metrics_of_a_live_worker(kafka: KafkaEnv) -> None:
    port = free_port()
    settings = msgspec.structs.replace(kafka.settings, http_host="127.0.0.1", http_port=port)
    base = f"http://127.0.0.1:{port}"
    pipeline = build_pipeline(settings, load_registry(settings.numbers))
    http = aiohttp.ClientSession()
    before_start: dict[str, Any] = {}
    started: asyncio.Future[Stage] = asyncio.get_running_loop().create_future()

    async def on_started(worker: Stage) -> None:
        # The endpoint listens; the worker has not joined its group yet.
        before_start["ready"] = await get(http, base + "/readyz")
        before_start["health"] = await get(http, base + "/healthz")
        started.set_result(worker)

    options = StageOptions(install_signal_handlers=False, on_started=on_started)
    task = asyncio.create_task(serve_identity(settings, pipeline, options))
    try:
        worker = await asyncio.wait_for(started, 60)
        status, body = before_start["ready"]
        assert status == 503
        assert "assignment_received" in json.loads(body)["failing"]
        assert before_start["health"][0] == 200

        async def ready() -> bool:
            return (await get(http, base + "/readyz"))[0] == 200

        await eventually(ready, 60, "/readyz turns 200 once partitions are assigned")
        assert worker.health.assignment_received
        assert worker.health.assigned_partitions == 3
        assert (await get(http, base + "/healthz"))[0] == 200

        records = sample_records()
        await kafka.produce(records)
        expected = offline_stats(records, settings.numbers)

        async def processed() -> bool:
            samples = await scrape(http, base)
            return samples.get(("bsuid_processor_records_total", frozenset())) == len(records)

        await eventually(processed, 60, f"{len(records)} records counted in /metrics")

        async def settled() -> bool:
            samples = await scrape(http, base)
            lag = [v for (name, _l), v in samples.items() if name == "bsuid_processor_consumer_lag"]
            in_flight = samples[("bsuid_processor_in_flight_records", frozenset())]
            return bool(lag) and not any(lag) and in_flight == 0

        await eventually(settled, 30, "all committed: consumer lag 0 and nothing in flight")
        samples = await scrape(http, base)
        assert_counts_match(samples, expected, len(records))
    finally:
        await stop(task, started)
        await http.close()

    # The endpoint went with the worker.
    async with aiohttp.ClientSession() as after:
        with pytest.raises(aiohttp.ClientConnectionError):
            await get(after, base + "/healthz")


def assert_counts_match(samples: Samples, expected: PipelineStats, records: int) -> None:
    assert samples[("bsuid_processor_records_total", frozenset())] == records
    # Every known label value is exported from the start, at 0: compare what was counted.
    events = {
        tuple(dict(labels)[k] for k in ("route", "identity_class", "decision", "event_type")): v
        for (name, labels), v in samples.items()
        if name == "bsuid_processor_events_total" and v
    }
    assert events == {
        (route, cls, DECISIONS[route], event_type): float(n)
        for (route, cls, event_type), n in expected.events.items()
    }
    # The per-route totals the topics received.
    for route in ("identity", "dropped"):
        got = sum(v for (r, *_rest), v in events.items() if r == route)
        assert got == expected.by_route()[route] > 0
    dead = {
        dict(labels)["code"]: v
        for (name, labels), v in samples.items()
        if name == "bsuid_processor_dead_letters_total" and v
    }
    assert dead == {"invalid_json": 1.0} == {k: float(v) for k, v in expected.dead_letters.items()}
    skips = samples[("bsuid_processor_skips_total", frozenset({("reason", "not_customer_field")}))]
    assert skips == expected.skips["not_customer_field"] == 1
    assert samples[("bsuid_processor_produce_errors_total", frozenset())] == 0
    assert samples[("bsuid_processor_commits_total", frozenset())] >= 1
    assert samples[("bsuid_processor_batch_seconds_count", frozenset())] >= 1
    assert samples[("bsuid_processor_up", frozenset())] == 1
    assert samples[("bsuid_processor_ready", frozenset())] == 1


async def stop(task: asyncio.Task[Stage], started: asyncio.Future[Stage]) -> None:
    if started.done() and not started.cancelled():
        started.result().request_stop()
        await asyncio.wait_for(task, 60)
    else:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


SECRETS = {
    "KAFKA_SASL_PASSWORD": "pw-Zq81-sasl",
    "META_APP_SECRET": "meta-7f3c-secret",
    "CONNECTLY_WEBHOOK_SECRET": "cly-90ab-secret",
}


async def test_a_worker_never_logs_its_secrets(kafka: KafkaEnv, tmp_path: Path) -> None:
    """Debug logs of a whole run, secrets set: none of their values is printed."""
    await kafka.produce(sample_records())
    env = kafka.env() | SECRETS | {"BSUID_LOG_LEVEL": "debug"}
    worker = WorkerProcess(env, tmp_path, "secret-worker", "--exit-when-drained")
    try:
        assert await asyncio.to_thread(worker.wait, 120) == 0, worker.log_text()[-3000:]
    finally:
        worker.stop()
    logs = worker.log_text()
    assert '"event":"stage stopped"' in logs
    for secret in SECRETS.values():
        assert secret not in logs
