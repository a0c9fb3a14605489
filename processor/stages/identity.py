"""The identity stage's handler: raw webhooks through the pure pipeline (CONTRACT 2-5).

The worker (`run`), `replay` and the dead-letter redrive run it; `classify` runs the same
`Pipeline.process` offline. Outputs go to the identity, dropped and dead-letter topics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import structlog
from aiokafka.structs import TopicPartition

from processor.core.pipeline import Pipeline
from processor.core.records import InputRecord, ItemError, OutputRecord, Route
from processor.core.route import dead_letter
from processor.ops.health import StageHealth
from processor.runtime.handler import Handler, Outputs
from processor.stages.control import ControlFollower
from schemas.settings import Settings

log = structlog.get_logger("processor.identity")


def output_topics(settings: Settings, suffix: str = "") -> dict[Route, str]:
    return {
        "identity": settings.identity_topic + suffix,
        "dropped": settings.dropped_topic + suffix,
        "dlq": settings.dlq_topic + suffix,
    }


class IdentityHandler(Handler):
    def __init__(
        self,
        pipeline: Pipeline,
        input_topic: str,
        topics: Mapping[Route, str],
        control: ControlFollower | None,
        health: StageHealth,
    ) -> None:
        self.pipeline = pipeline
        self.health = health
        self.inputs = (input_topic,)
        self.topics = dict(topics)
        self.control = control

    def outputs(self) -> set[str]:
        return set(self.topics.values())

    def required(self) -> set[str]:
        return set() if self.control is None else {self.control.topic}

    async def load(self) -> None:
        if self.control is not None:
            # Gate nothing before the enablement history is known (CONTRACT 4).
            self.health.loaded["control_loaded"] = False
            await self.control.load()
            self.health.loaded["control_loaded"] = True

    def process(self, tp: TopicPartition, messages: list[Any], out: Outputs) -> int:
        pipeline, emit = self.pipeline, out.sink.emitter(self.topics)
        topic, partition = tp.topic, tp.partition
        size = 0
        for message in messages:
            value: bytes = message.value or b""
            record = InputRecord(
                value=value,
                key=message.key,
                headers=list(message.headers),
                topic=topic,
                partition=partition,
                offset=message.offset,
                timestamp_ms=message.timestamp,
            )
            process_safely(pipeline, record, emit)
            size += len(value)
        return size

    def summary(self) -> dict[str, Any]:
        stats = self.pipeline.stats
        return {
            "records": stats.records,
            "routes": dict(stats.by_route()),
            "dead_letters": dict(stats.dead_letters),
            "skips": dict(stats.skips),
        }

    async def close(self) -> None:
        if self.control is not None:
            await self.control.stop()


def process_safely(
    pipeline: Pipeline, record: InputRecord, emit: Callable[[OutputRecord], None]
) -> None:
    """A bug in the pipeline must not stop the stream: the record is dead-lettered instead."""
    try:
        pipeline.process(record, emit)
    except Exception as exc:
        log.exception(
            "pipeline error", topic=record.topic, partition=record.partition, offset=record.offset
        )
        pipeline.stats.dead_letters["internal_error"] += 1
        emit(dead_letter(record, ItemError("internal_error", f"{type(exc).__name__}")))
