"""The operations endpoint of every stage: `/metrics`, `/healthz`, `/readyz` (aiohttp).

`/live` and `/ready` answer like `/healthz` and `/readyz`. It runs on the stage's event loop,
so handlers read `StageHealth` and the stage's counters without locks; each handler is a few
attribute reads and never waits on Kafka.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

import structlog
from aiohttp import web

from processor.ops.health import StageHealth
from processor.ops.metrics import StageMetrics

log = structlog.get_logger("processor.ops.http")

METRICS_PATH: Final = "/metrics"
HEALTH_PATH: Final = "/healthz"
READY_PATH: Final = "/readyz"

HEALTH: Final = web.AppKey("health", StageHealth)
METRICS: Final = web.AppKey("metrics", StageMetrics)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def metrics(request: web.Request) -> web.Response:
    body, content_type = request.app[METRICS].render(request.headers.get("Accept", ""))
    # Set as a header: aiohttp's content_type argument refuses a charset parameter.
    return web.Response(body=body, headers={"Content-Type": content_type})


async def healthz(request: web.Request) -> web.Response:
    """Alive: not failed and the processing loop turned recently (not wedged)."""
    health = request.app[HEALTH]
    alive = health.alive()
    return web.json_response({"alive": alive, "phase": health.phase}, status=200 if alive else 503)


async def readyz(request: web.Request) -> web.Response:
    """Ready: running, partitions handed out, broker reachable, control topic loaded."""
    checks = request.app[HEALTH].readiness()
    failing = [name for name, ok in checks.items() if not ok]
    body = {"ready": not failing, "checks": checks, "failing": failing}
    return web.json_response(body, status=503 if failing else 200)


#: Every path served: the deployment probes are checked against it (tests/unit/test_deploy.py).
ROUTES: Final[dict[str, Handler]] = {
    METRICS_PATH: metrics,
    HEALTH_PATH: healthz,
    READY_PATH: readyz,
    "/live": healthz,
    "/ready": readyz,
}


class OpsServer:
    """Serves the probes and metrics of one stage on `host:port` until `stop()`."""

    def __init__(self, health: StageHealth, metrics: StageMetrics) -> None:
        self.app = web.Application()
        self.app[HEALTH] = health
        self.app[METRICS] = metrics
        for path, handler in ROUTES.items():
            self.app.router.add_get(path, handler)
        self._runner: web.AppRunner | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on `host:port` (port 0: any free port); return the port bound."""
        # No access log: Kubernetes probes every few seconds would drown the worker's lines.
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        bound: int = runner.addresses[0][1]
        log.info("http server listening", host=host, port=bound)
        return bound

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
