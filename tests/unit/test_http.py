"""The operations endpoint: probe status codes and bodies, metrics text, start and stop."""

from __future__ import annotations

import aiohttp
import pytest

from processor.core.stats import PipelineStats
from processor.ops.health import StageHealth
from processor.ops.http import HEALTH_PATH, METRICS_PATH, READY_PATH, ROUTES, OpsServer
from processor.ops.metrics import PipelineCollector, StageMetrics


async def started(health: StageHealth, stats: PipelineStats) -> tuple[OpsServer, str]:
    server = OpsServer(health, StageMetrics(health, PipelineCollector(lambda: stats)))
    port = await server.start("127.0.0.1", 0)
    return server, f"http://127.0.0.1:{port}"


def test_route_table_is_the_probe_and_metrics_paths() -> None:
    assert set(ROUTES) == {"/metrics", "/healthz", "/readyz", "/live", "/ready"}
    assert ROUTES["/live"] is ROUTES["/healthz"]
    assert ROUTES["/ready"] is ROUTES["/readyz"]


async def test_probes_follow_worker_health() -> None:
    health = StageHealth()
    server, base = await started(health, PipelineStats())
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(base + HEALTH_PATH) as response:
                assert response.status == 200
                assert (await response.json())["phase"] == "starting"
            async with http.get(base + READY_PATH) as response:
                assert response.status == 503
                body = await response.json()
                assert body["ready"] is False
                assert body["failing"] == ["running", "assignment_received", "broker_reachable"]

            health.phase, health.broker_reachable = "running", True
            async with http.get(base + READY_PATH) as response:
                assert response.status == 503
                assert (await response.json())["failing"] == ["assignment_received"]

            health.assignment_received = True
            async with http.get(base + READY_PATH) as response:
                assert response.status == 200
                assert (await response.json())["ready"] is True

            health.loaded["control_loaded"] = False
            async with http.get(base + READY_PATH) as response:
                assert response.status == 503
                assert (await response.json())["failing"] == ["control_loaded"]

            health.phase = "failed"
            async with http.get(base + HEALTH_PATH) as response:
                assert response.status == 503
    finally:
        await server.stop()


async def test_metrics_are_served_as_prometheus_text() -> None:
    stats = PipelineStats(records=42)
    server, base = await started(StageHealth(), stats)
    try:
        async with aiohttp.ClientSession() as http, http.get(base + METRICS_PATH) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            assert "bsuid_processor_records_total 42.0" in await response.text()
    finally:
        await server.stop()


async def test_stop_closes_the_port() -> None:
    server, base = await started(StageHealth(), PipelineStats())
    await server.stop()
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(base + HEALTH_PATH)
