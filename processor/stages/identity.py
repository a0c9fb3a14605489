"""The identity stage's handler: raw webhooks through the pure pipeline (docs/classification.md).

The worker (`run`), `replay` and the dead-letter redrive run it; `classify` runs the same
`Pipeline.process` offline. Outputs go to the identity, dropped and dead-letter topics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import structlog
from aiokafka.structs import TopicPartition

from processor.core.pipeline import Pipeline
from processor.core.records import InputRecord, OutputRecord, Route
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
            # Gate nothing before the enablement history is known (docs/enablement.md).
            self.health.loaded["control_loaded"] = False
            await self.control.load()
            self.health.loaded["control_loaded"] = True

    def process(self, tp: TopicPartition, messages: list[Any], out: Outputs) -> int:
        topic, partition = tp.topic, tp.partition
        # Positional: a Struct built from keywords costs twice as much, once per record.
        records = [
            InputRecord(
                m.value or b"", m.key, list(m.headers), topic, partition, m.offset, m.timestamp
            )
            for m in messages
        ]
        self.pipeline.process_batch(records, out.sink.emitter(self.topics), _logged)
        return sum([len(record.value) for record in records])

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


def _logged(record: InputRecord, exc: Exception) -> None:
    """A bug in the pipeline must not stop the stream: the pipeline dead-lettered the record
    (`internal_error`); the traceback goes to the log (called inside the `except`)."""
    del exc
    log.exception(
        "pipeline error", topic=record.topic, partition=record.partition, offset=record.offset
    )


def process_safely(
    pipeline: Pipeline, record: InputRecord, emit: Callable[[OutputRecord], None]
) -> None:
    """One record, dead-lettered as `internal_error` if the pipeline fails on it."""
    pipeline.process_batch((record,), emit, _logged)
