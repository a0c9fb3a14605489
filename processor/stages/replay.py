"""`replay`: a bounded backfill of the raw topic through the identity stage, then stop;
`dlq redrive`: the same over the dead-letter topic (`processor.stages.redrive`).

The range is fixed at the start (end offsets as of then, or an end time). With a consumer
group the replay commits as it goes, and an interrupted run resumes where it committed and
still stops at the end of its first run: that end is kept, keyed by group, in a compacted
state topic (commit metadata would do on Apache Kafka, but Tansu does not keep it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import msgspec
import structlog
from aiokafka.structs import TopicPartition

from processor.runtime.bounds import ReplayBounds, Start, high_watermarks
from processor.runtime.clients import make_producer
from processor.runtime.reader import read_topic
from processor.stages.redrive import RedriveOptions
from schemas.settings import Settings

log = structlog.get_logger("processor.stages.replay")


class ReplayState(msgspec.Struct, frozen=True):
    """What a replay group must remember across runs: its end offsets, by partition."""

    ends: dict[int, int]


@dataclass(frozen=True)
class ReplayPlan:
    start: Start = "earliest"
    to_ms: int | None = None
    output_suffix: str = ""
    group: str | None = None
    #: A dead-letter redrive: the dead-letter topic through `RedriveHandler` instead of the
    #: raw topic through the identity handler; the range, resume and progress are the same.
    redrive: RedriveOptions | None = None
    #: Awaited once the end offsets are fixed, before any record is read.
    on_range_fixed: Callable[[dict[TopicPartition, int]], Awaitable[None]] | None = None


def input_topic(settings: Settings, plan: ReplayPlan) -> str:
    return settings.raw_topic if plan.redrive is None else plan.redrive.topic


async def _remembered_ends(settings: Settings, group: str, topic: str) -> dict[TopicPartition, int]:
    ends: dict[TopicPartition, int] = {}
    for message in await read_topic(settings, settings.replay_state_topic):
        if message.key == group.encode():
            ends = (
                {}
                if message.value is None
                else {
                    TopicPartition(topic, p): o
                    for p, o in msgspec.json.decode(message.value, type=ReplayState).ends.items()
                }
            )
    return ends


async def remember(settings: Settings, group: str, ends: dict[TopicPartition, int] | None) -> None:
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


async def fix_range(settings: Settings, plan: ReplayPlan) -> ReplayBounds:
    """The replay's range: where it starts, and the end offsets fixed once (kept for a group,
    so that a resumed run stops at the end of its first run). A dry run keeps nothing."""
    topic = input_topic(settings, plan)
    bounds = ReplayBounds(topic, start=plan.start, to_ms=plan.to_ms)
    if plan.group:
        bounds.ends = await _remembered_ends(settings, plan.group, topic)
    if not bounds.ends:
        bounds.ends = await high_watermarks(settings, topic)
        if plan.group and not dry_run(plan):
            # Kept before anything is committed, so a resumed run stops at this same end.
            await remember(settings, plan.group, bounds.ends)
    log.info("replay range fixed", ends={tp.partition: o for tp, o in bounds.ends.items()})
    if plan.on_range_fixed is not None:
        await plan.on_range_fixed(bounds.ends)
    return bounds


def dry_run(plan: ReplayPlan) -> bool:
    return plan.redrive is not None and plan.redrive.dry_run


async def report_progress(
    acked: dict[TopicPartition, int],
    bounds: ReplayBounds,
    on_progress: Callable[[int, int], None] | None,
) -> None:
    """Tell `on_progress` (records read, records in the range) every half second."""
    while True:
        await asyncio.sleep(0.5)
        if on_progress is not None and bounds.starts:
            on_progress(*bounds.progress(acked))
