"""`replay`: a bounded backfill through the same pipeline, stopping by itself at the end.

The range is fixed at the start (end offsets as of then, or an end time). With a consumer
group the replay commits as it goes, and an interrupted run resumes where it committed and
still stops at the end of its first run: that end is kept, keyed by group, in a compacted
state topic (commit metadata would do on Apache Kafka, but Tansu does not keep it).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import msgspec
import structlog
from aiokafka.structs import TopicPartition
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from processor.core.pipeline import Pipeline
from processor.core.stats import PipelineStats
from processor.kafka.admin import ensure_topics, topic_specs
from processor.kafka.bounds import ReplayBounds, Start, high_watermarks
from processor.kafka.control import ControlFollower
from processor.kafka.sink import make_producer
from processor.kafka.source import make_consumer
from processor.kafka.topic_reader import partitions_of, read_topic
from processor.kafka.worker import Worker, output_topics
from processor.service import worker_type
from schemas.settings import Settings

log = structlog.get_logger("processor.replay")


class ReplayState(msgspec.Struct, frozen=True):
    """What a replay group must remember across runs: its end offsets, by partition."""

    ends: dict[int, int]


@dataclass(frozen=True)
class ReplayPlan:
    start: Start = "earliest"
    to_ms: int | None = None
    output_suffix: str = ""
    group: str | None = None
    #: Awaited once the end offsets are fixed, before any record is read.
    on_range_fixed: Callable[[dict[TopicPartition, int]], Awaitable[None]] | None = None


@dataclass
class ReplayResult:
    stats: PipelineStats
    seconds: float
    partitions: int


async def _remembered_ends(settings: Settings, group: str) -> dict[TopicPartition, int]:
    ends: dict[TopicPartition, int] = {}
    for message in await read_topic(settings, settings.replay_state_topic):
        if message.key == group.encode():
            ends = (
                {}
                if message.value is None
                else {
                    TopicPartition(settings.raw_topic, p): o
                    for p, o in msgspec.json.decode(message.value, type=ReplayState).ends.items()
                }
            )
    return ends


async def _remember(settings: Settings, group: str, ends: dict[TopicPartition, int] | None) -> None:
    """Keep (or, with None, forget) the group's end offsets."""
    value = (
        b""
        if ends is None
        else msgspec.json.encode(ReplayState({tp.partition: o for tp, o in ends.items()}))
    )
    producer = make_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(settings.replay_state_topic, value or None, key=group.encode())
    finally:
        await producer.stop()


async def replay(
    settings: Settings,
    pipeline: Pipeline,
    plan: ReplayPlan,
    on_progress: Callable[[int, int], None] | None = None,
) -> ReplayResult:
    topics = output_topics(settings, plan.output_suffix)
    if plan.output_suffix:
        await ensure_topics(settings, topic_specs(settings, suffix=plan.output_suffix)[1:4])
    bounds = ReplayBounds(settings.raw_topic, start=plan.start, to_ms=plan.to_ms)
    if plan.group:
        bounds.ends = await _remembered_ends(settings, plan.group)
    if not bounds.ends:
        bounds.ends = await high_watermarks(
            settings, await partitions_of(settings, settings.raw_topic)
        )
        if plan.group:
            # Kept before anything is committed, so a resumed run stops at this same end.
            await _remember(settings, plan.group, bounds.ends)
    log.info("replay range fixed", ends={tp.partition: o for tp, o in bounds.ends.items()})
    if plan.on_range_fixed is not None:
        await plan.on_range_fixed(bounds.ends)
    if plan.group:
        # An exactly-once replay commits its offsets in its transactions, for its own group.
        settings = msgspec.structs.replace(settings, group_id=plan.group)
    producer = make_producer(settings)
    worker = worker_type(settings)(
        settings,
        pipeline,
        make_consumer(settings, group_id=plan.group),
        producer,
        topics=topics,
        bounds=bounds,
        control=ControlFollower(settings, pipeline.registry, producer),
        commits=plan.group is not None,
    )
    started = time.perf_counter()
    reporter = asyncio.create_task(_report(worker, bounds, on_progress))
    try:
        await worker.run()
    finally:
        reporter.cancel()
    if plan.group:
        # Finished: the next replay of this group starts from its commits to a new end.
        await _remember(settings, plan.group, None)
    if on_progress is not None:
        _read, total = _progress(worker, bounds)
        on_progress(total, total)
    return ReplayResult(pipeline.stats, time.perf_counter() - started, len(bounds.starts))


def _progress(worker: Worker, bounds: ReplayBounds) -> tuple[int, int]:
    if not bounds.starts:
        return 0, 0
    return bounds.progress(worker.checkpoint.acked)


async def _report(
    worker: Worker, bounds: ReplayBounds, on_progress: Callable[[int, int], None] | None
) -> None:
    while True:
        await asyncio.sleep(0.5)
        if on_progress is not None and bounds.starts:
            on_progress(*_progress(worker, bounds))


def progress_printer() -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A rich progress bar on a terminal; a log line every 5 s otherwise."""
    if sys.stderr.isatty():
        bar = Progress(
            TextColumn("replay"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            transient=True,
        )
        task = bar.add_task("replay", total=None, rate="")
        bar.start()
        started = time.monotonic()

        def update(read: int, total: int) -> None:
            rate = read / max(time.monotonic() - started, 1e-3)
            bar.update(task, completed=read, total=total, rate=f"{rate:,.0f} rec/s")

        return update, bar.stop
    last = [0.0]

    def log_line(read: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 5.0 or read == total:
            last[0] = now
            log.info("replay progress", read=read, total=total)

    return log_line, lambda: None
