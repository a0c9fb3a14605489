"""Run a built stage with what operates it: probes and metrics over HTTP, signal handling,
and (as one of `--processes N`) the supervisor watch. Called by `processor.wiring`."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog
from prometheus_client.registry import Collector

from processor.ops.health import StageHealth
from processor.ops.http import OpsServer
from processor.ops.metrics import StageMetrics
from processor.ops.supervisor import PROCESS_INDEX_ENV, SUPERVISOR_PID_ENV, watch_supervisor
from processor.runtime.errors import StageError
from processor.runtime.group_lag import GroupLag
from processor.runtime.stage import Stage
from processor.runtime.tasks import cancel_and_wait
from schemas.settings import Settings

log = structlog.get_logger("processor.serve")


@dataclass
class StageOptions:
    stop_when_drained: bool = False
    install_signal_handlers: bool = True
    health: StageHealth = field(default_factory=StageHealth)
    #: Awaited once the HTTP server listens, before the stage starts: lets a caller hold the
    #: stage (to stop it) and see the not-yet-ready state.
    on_started: Callable[[Stage], Awaitable[None]] | None = None


async def serve(
    stage: Stage, settings: Settings, options: StageOptions, *collectors: Collector
) -> Stage:
    """Run `stage` with its probes, metrics and signal handling until it stops."""
    if options.install_signal_handlers:
        handle_signals(stage)
    watch = _watch_supervisor(stage)
    log.info(
        "stage starting",
        stage=stage.name,
        bootstrap_servers=settings.bootstrap_servers,
        topics=list(stage.handler.inputs),
        group=settings.group_id,
        guarantee=settings.guarantee,
    )
    try:
        ops = await _start_http(stage, settings, collectors)
    except BaseException:
        await cancel_and_wait(watch)
        await stage.close()  # its clients were built: close them though it never ran
        raise
    # The group's lag is read only where something exports it.
    lag = None if ops is None else asyncio.create_task(_group_lag(stage, settings))
    try:
        if options.on_started is not None:
            await options.on_started(stage)
        await stage.run()
    finally:
        # The probes go with the stage: nothing answers for a stage that has stopped.
        if ops is not None:
            await ops.stop()
        await cancel_and_wait(lag)
        await cancel_and_wait(watch)
    log.info("stage stopped", stage=stage.name, **stage.handler.summary())
    return stage


def handle_signals(stage: Stage) -> None:
    """First SIGTERM/SIGINT asks for a drain; a second one gets the default behaviour back."""
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        log.info("stopping: draining in-flight outputs", signal=signal.Signals(signum).name)
        stage.request_stop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)


def _watch_supervisor(stage: Stage) -> asyncio.Task[None] | None:
    """One of `--processes N`'s children: say which in every line, stop with the supervisor."""
    if SUPERVISOR_PID_ENV not in os.environ:
        return None
    structlog.contextvars.bind_contextvars(process=int(os.environ.get(PROCESS_INDEX_ENV, "0")))
    return asyncio.create_task(watch_supervisor(stage.request_stop))


async def _group_lag(stage: Stage, settings: Settings) -> None:
    topics = stage.handler.inputs
    await GroupLag(settings, stage.consumer, topics, stage.health).run()


async def _start_http(
    stage: Stage, settings: Settings, collectors: tuple[Collector, ...]
) -> OpsServer | None:
    """Probes and metrics on `http_host:http_port`; none when the port is 0 (demo, tests)."""
    if settings.http_port == 0:
        return None
    health = stage.health
    metrics = StageMetrics(health, *collectors, stage=stage.name, topics=stage.handler.inputs)
    ops = OpsServer(health, metrics)
    try:
        await ops.start(settings.http_host, settings.http_port)
    except OSError as exc:
        raise StageError(
            f"setting http_port: cannot listen on {settings.http_host}:{settings.http_port}: "
            f"{exc.strerror or exc}"
        ) from None
    return ops
