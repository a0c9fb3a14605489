"""Wire the links stage for `links run`: settings in, a running stage until it stops."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from processor.kafka.admin import ensure_topics, links_topic_specs
from processor.kafka.sink import make_producer
from processor.kafka.source import make_consumer
from processor.links.stage import LinksStage
from schemas.settings import Settings

log = structlog.get_logger("processor.links")


@dataclass
class LinksOptions:
    stop_when_drained: bool = False
    install_signal_handlers: bool = True
    #: Awaited before the stage starts: lets a caller hold the stage (to stop it).
    on_started: Callable[[LinksStage], Awaitable[None]] | None = None


def _install_signal_handlers(stage: LinksStage) -> None:
    """First SIGTERM/SIGINT asks for a drain; a second one gets the default behaviour back."""
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        log.info("stopping: draining in-flight outputs", signal=signal.Signals(signum).name)
        stage.request_stop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)


async def serve_links(settings: Settings, options: LinksOptions) -> LinksStage:
    """Run the links stage until it is stopped (or drained, in burst mode) and return it."""
    if settings.create_topics:
        await ensure_topics(settings, links_topic_specs(settings))
    stage = LinksStage(
        settings,
        make_consumer(settings, group_id=settings.links_group_id),
        make_producer(settings),
        stop_when_drained=options.stop_when_drained,
    )
    if options.install_signal_handlers:
        _install_signal_handlers(stage)
    log.info(
        "links starting",
        bootstrap_servers=settings.bootstrap_servers,
        topic=stage.topics.identity,
        group=settings.links_group_id,
    )
    if options.on_started is not None:
        await options.on_started(stage)
    await stage.run()
    stats = stage.topology.stats
    log.info(
        "links stopped",
        routed=stats.routed,
        processed=stats.processed,
        link_records=stats.link_records,
        tombstones=stats.tombstones,
        rotations=stats.rotations,
        skips=dict(stats.skips),
        partitions=sorted(stage.states),
        links=sum(len(state.phones) for state in stage.states.values()),
    )
    return stage
