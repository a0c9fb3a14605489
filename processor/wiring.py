"""Settings in, a running stage out: the one place that wires the product together.

Every Kafka command comes through here: `run` and `demo` (`serve_identity`), `links run`
(`serve_links`), `replay` and `dlq redrive` (`run_replay`), `--processes N`
(`supervise_stage`). This module builds the clients, the handler, the delivery (at-least-once
or exactly-once), the broker watch and the health, hands the stage to `ops.serve` (HTTP probes
and metrics, signals), and turns the failures an operator can fix into one line (`run_job`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import structlog
from aiokafka.errors import KafkaConnectionError

from processor.core.pipeline import Pipeline
from processor.core.stats import PipelineStats
from processor.ops.health import StageHealth
from processor.ops.metrics import LinksCollector, PipelineCollector
from processor.ops.serve import StageOptions, handle_signals, serve
from processor.ops.supervisor import supervise
from processor.runtime.bounds import ReplayBounds
from processor.runtime.clients import make_consumer, make_producer, wait_for_broker
from processor.runtime.delivery import AtLeastOnce
from processor.runtime.errors import StageError
from processor.runtime.guards import BrokerWatch
from processor.runtime.handler import Handler
from processor.runtime.oauth import TokenFetchError
from processor.runtime.stage import Stage
from processor.runtime.topics import (
    TopicsMissingError,
    ensure_topics,
    links_topic_specs,
    topic_specs,
)
from processor.runtime.transactional import ExactlyOnce
from processor.settings import build_pipeline
from processor.stages.control import ControlFollower, ControlTopicMissingError
from processor.stages.identity import IdentityHandler, output_topics
from processor.stages.links import LinksHandler
from processor.stages.redrive import RedriveCounts, RedriveHandler, RedriveOptions
from processor.stages.replay import ReplayPlan, dry_run, fix_range, remember, report_progress
from schemas.settings import Settings

__all__ = ["StageOptions", "build_pipeline", "run_job", "serve_identity", "serve_links"]

log = structlog.get_logger("processor.wiring")
T = TypeVar("T")


@dataclass
class Clients:
    consumer: Any
    #: Not transactional: outputs (at-least-once), metadata, probes, control dead letters.
    producer: Any

    @classmethod
    def of(cls, settings: Settings, group: str | None) -> Clients:
        return cls(make_consumer(settings, group_id=group), make_producer(settings))


def build_stage(
    name: str,
    settings: Settings,
    clients: Clients,
    handler: Handler,
    *,
    health: StageHealth,
    committing: bool = True,
    bounds: ReplayBounds | None = None,
    stop_when_drained: bool = False,
) -> Stage:
    """A stage over `clients` and `handler`, with the delivery its guarantee asks for."""
    consumer, producer = clients.consumer, clients.producer
    watch = BrokerWatch(
        settings,
        consumer,
        producer,
        lambda: {*handler.inputs, *handler.outputs()},
        health,
        manual=bounds is not None,
    )
    kind = ExactlyOnce if settings.guarantee == "exactly-once" else AtLeastOnce
    delivery = kind(
        settings,
        consumer,
        producer,
        handler=handler,
        guard=watch,
        health=health,
        commits=committing,
    )
    return Stage(
        name,
        settings,
        consumer,
        handler=handler,
        delivery=delivery,
        watch=watch,
        health=health,
        bounds=bounds,
        stop_when_drained=stop_when_drained,
    )


def identity_stage(
    name: str,
    settings: Settings,
    pipeline: Pipeline,
    *,
    group: str | None,
    health: StageHealth,
    suffix: str = "",
    bounds: ReplayBounds | None = None,
    stop_when_drained: bool = False,
    redrive: RedriveOptions | None = None,
) -> Stage:
    """The identity pipeline as a stage: over the raw topic, or (`redrive`) over dead letters."""
    clients = Clients.of(settings, group)
    control = ControlFollower(settings, pipeline.registry, clients.producer)
    topics = output_topics(settings, suffix)
    handler: IdentityHandler
    if redrive is None:
        handler = IdentityHandler(pipeline, settings.raw_topic, topics, control, health)
    else:
        # What fails again is parked, never written back to the dead-letter topic.
        topics["dlq"] = settings.parked_topic
        handler = RedriveHandler(pipeline, redrive.topic, topics, control, health, options=redrive)
    return build_stage(
        name,
        settings,
        clients,
        handler,
        health=health,
        committing=group is not None and not (redrive and redrive.dry_run),
        bounds=bounds,
        stop_when_drained=stop_when_drained,
    )


async def serve_identity(settings: Settings, pipeline: Pipeline, options: StageOptions) -> Stage:
    """`run` (and `demo`): the identity stage in the consumer group until stopped."""
    if not pipeline.secrets.any:
        log.warning(
            "webhook signatures are not verified: no signing secret is set "
            "(set require_signatures to refuse to start like this)"
        )
    if settings.create_topics:
        await ensure_topics(settings, topic_specs(settings))
    stage = identity_stage(
        "identity",
        settings,
        pipeline,
        group=settings.group_id,
        health=options.health,
        stop_when_drained=options.stop_when_drained,
    )
    return await serve(stage, settings, options, PipelineCollector(lambda: pipeline.stats))


async def serve_links(settings: Settings, options: StageOptions) -> Stage:
    """`links run`: the links stage in its own consumer group until stopped."""
    if settings.create_topics:
        await ensure_topics(settings, links_topic_specs(settings))
    # Its transactions commit offsets for its own group.
    settings = msgspec.structs.replace(settings, group_id=settings.links_group_id)
    clients = Clients.of(settings, settings.group_id)
    handler = LinksHandler(settings, clients.consumer, options.health)
    stage = build_stage(
        "links",
        settings,
        clients,
        handler,
        health=options.health,
        stop_when_drained=options.stop_when_drained,
    )
    return await serve(stage, settings, options, LinksCollector(handler))


@dataclass
class ReplayResult:
    stats: PipelineStats
    seconds: float
    partitions: int
    #: (records read, records in the range)
    progress: tuple[int, int]
    #: False when stopped by a signal before the end of the range.
    complete: bool
    #: A redrive's own counts (dead letters read, redriven, not redriven and why).
    redrive: RedriveCounts | None = None


async def run_replay(
    settings: Settings,
    pipeline: Pipeline,
    plan: ReplayPlan,
    on_progress: Callable[[int, int], None] | None = None,
    *,
    install_signal_handlers: bool = False,
) -> ReplayResult:
    """`replay`: a bounded range of the raw topic through the identity stage, then stop;
    with `plan.redrive`, `dlq redrive`: a range of the dead-letter topic, unwrapped.

    A signal stops it early (drained and committed, like `run`): with a group, the next run
    resumes from its commits and still ends at this run's end.
    """
    if plan.output_suffix:
        specs = topic_specs(settings, suffix=plan.output_suffix)
        await ensure_topics(settings, [s for s in specs if s.name.endswith(plan.output_suffix)])
    bounds = await fix_range(settings, plan)
    if plan.group:
        # An exactly-once replay commits its offsets in its transactions, for its own group.
        settings = msgspec.structs.replace(settings, group_id=plan.group)
    if dry_run(plan):
        # Publishes and commits nothing, so no transactions; reads where the group is.
        settings = msgspec.structs.replace(settings, guarantee="at-least-once")
        bounds.peek_commits = plan.group is not None
    stage = identity_stage(
        "replay" if plan.redrive is None else "redrive",
        settings,
        pipeline,
        group=plan.group,
        health=StageHealth(),
        suffix=plan.output_suffix,
        bounds=bounds,
        redrive=plan.redrive,
    )
    if install_signal_handlers:
        handle_signals(stage)
    started = time.perf_counter()
    reporter = asyncio.create_task(report_progress(stage.delivery.acked, bounds, on_progress))
    try:
        await stage.run()
    finally:
        reporter.cancel()
    complete = bounds.finished()
    if plan.group and complete and not dry_run(plan):
        # Finished: the next replay of this group starts from its commits to a new end.
        await remember(settings, plan.group, None)
    progress = bounds.progress(stage.delivery.acked) if bounds.starts else (0, 0)
    if complete:
        progress = (progress[1], progress[1])
    if on_progress is not None:
        on_progress(*progress)
    seconds = time.perf_counter() - started
    handler = stage.handler
    counts = handler.counts if isinstance(handler, RedriveHandler) else None
    return ReplayResult(pipeline.stats, seconds, len(bounds.starts), progress, complete, counts)


class JobError(Exception):
    """A Kafka job failed for a reason an operator can fix: the message is one line."""


def run_job(job: Coroutine[Any, Any, T], settings: Settings, *, wait: bool = True) -> T:
    """Run a Kafka job to its end; the failures an operator can fix become `JobError`.

    With `wait`, the job starts once the broker answers (`wait_for_broker`); stages wait
    themselves, behind their probes.
    """

    async def waited() -> T:
        try:
            await wait_for_broker(settings)
        except BaseException:
            job.close()  # never started: nothing to clean up, nothing to warn about
            raise
        return await job

    try:
        return asyncio.run(waited() if wait else job)
    except (StageError, ControlTopicMissingError, TopicsMissingError, TokenFetchError) as exc:
        raise JobError(str(exc)) from None
    except KafkaConnectionError as exc:
        detail = exc.args[0] if exc.args else "no answer"
        raise JobError(
            f"setting bootstrap_servers: cannot reach Kafka at {settings.bootstrap_servers}:"
            f" {detail}"
        ) from None


async def supervise_stage(settings: Settings, command: tuple[str, ...], args: list[str]) -> int:
    """`--processes N`: create the stage's topics once (when asked), then N children."""
    if settings.create_topics:
        specs = links_topic_specs(settings) if command[0] == "links" else topic_specs(settings)
        await ensure_topics(settings, specs)
    return await supervise(settings, command, args)
