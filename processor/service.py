"""Wire the worker for `run` and `demo`: settings in, a running worker until it stops.

The only place that builds clients from settings, installs signal handlers and starts the
side tasks (HTTP probes and metrics, control-topic follower).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from processor.core.pipeline import Pipeline
from processor.core.registry import Registry
from processor.core.signature import SigningSecrets
from processor.http import OpsServer
from processor.kafka.admin import ensure_topics, topic_specs
from processor.kafka.control import ControlFollower
from processor.kafka.health import WorkerHealth
from processor.kafka.sink import make_producer
from processor.kafka.source import make_consumer
from processor.kafka.transactions import ExactlyOnceWorker
from processor.kafka.worker import Worker, WorkerError
from processor.metrics import ProcessorMetrics
from processor.supervisor import PROCESS_INDEX_ENV, SUPERVISOR_PID_ENV, watch_supervisor
from schemas.settings import Settings

log = structlog.get_logger("processor.service")


def worker_type(settings: Settings) -> type[Worker]:
    """At-least-once (ack-gated commits) or exactly-once (per-partition transactions)."""
    return ExactlyOnceWorker if settings.guarantee == "exactly-once" else Worker


def build_pipeline(settings: Settings, registry: Registry) -> Pipeline:
    return Pipeline(
        registry=registry,
        secrets=SigningSecrets(
            meta=settings.meta_app_secret.encode(),
            connectly=settings.connectly_webhook_secret.encode(),
        ),
        include_standby=settings.include_standby,
    )


@dataclass
class ServiceOptions:
    stop_when_drained: bool = False
    install_signal_handlers: bool = True
    health: WorkerHealth = field(default_factory=WorkerHealth)
    #: Awaited once the HTTP server listens, before the worker starts: lets a caller hold
    #: the worker (to stop it) and see the not-yet-ready state.
    on_started: Callable[[Worker], Awaitable[None]] | None = None


def _install_signal_handlers(worker: Worker) -> None:
    """First SIGTERM/SIGINT asks for a drain; a second one gets the default behaviour back."""
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        log.info("stopping: draining in-flight outputs", signal=signal.Signals(signum).name)
        worker.request_stop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)


async def serve(settings: Settings, pipeline: Pipeline, options: ServiceOptions) -> Worker:
    """Run the worker until it is stopped (or drained, in burst mode) and return it."""
    if settings.create_topics:
        await ensure_topics(settings, topic_specs(settings))
    producer = make_producer(settings)
    worker = worker_type(settings)(
        settings,
        pipeline,
        make_consumer(settings, group_id=settings.group_id),
        producer,
        health=options.health,
        stop_when_drained=options.stop_when_drained,
        control=ControlFollower(settings, pipeline.registry, producer),
    )
    if options.install_signal_handlers:
        _install_signal_handlers(worker)
    watch = _watch_supervisor(worker)
    log.info(
        "worker starting",
        bootstrap_servers=settings.bootstrap_servers,
        topic=settings.raw_topic,
        group=settings.group_id,
    )
    ops = await _start_http(settings, pipeline, options.health)
    try:
        if options.on_started is not None:
            await options.on_started(worker)
        await worker.run()
    finally:
        # The probes go with the worker: nothing answers for a worker that has stopped.
        if ops is not None:
            await ops.stop()
        if watch is not None:
            watch.cancel()
    stats = pipeline.stats
    log.info(
        "worker stopped",
        records=stats.records,
        routes=dict(stats.by_route()),
        dead_letters=dict(stats.dead_letters),
        skips=dict(stats.skips),
    )
    return worker


def _watch_supervisor(worker: Worker) -> asyncio.Task[None] | None:
    """One of `run --processes N`'s children: say which in every line, and stop with the
    supervisor."""
    if SUPERVISOR_PID_ENV not in os.environ:
        return None
    structlog.contextvars.bind_contextvars(process=int(os.environ.get(PROCESS_INDEX_ENV, "0")))
    return asyncio.create_task(watch_supervisor(worker.request_stop))


async def _start_http(
    settings: Settings, pipeline: Pipeline, health: WorkerHealth
) -> OpsServer | None:
    """Probes and metrics on `http_host:http_port`; none when the port is 0 (demo, tests)."""
    if settings.http_port == 0:
        return None
    ops = OpsServer(health, ProcessorMetrics(lambda: pipeline.stats, health))
    try:
        await ops.start(settings.http_host, settings.http_port)
    except OSError as exc:
        raise WorkerError(
            f"setting http_port: cannot listen on {settings.http_host}:{settings.http_port}: "
            f"{exc.strerror or exc}"
        ) from None
    return ops
