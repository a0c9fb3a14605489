"""The dead-letter redrive stage's handler: dead letters back through the current pipeline.

A replay of the dead-letter topic (same range, group resume and progress as `replay`) whose
handler unwraps each dead letter (`processor.dlq.letters`) and runs `Pipeline.process` on the
original record at its source coordinates, so an event gets the eventId (and `source`) it
would have had the first time. Outputs go to the normal identity and dropped topics.

The loop guard: a record that fails again never goes back to the dead-letter topic. It goes
to the parking topic (`<dlq_topic>.parked`): original bytes and headers, the new error code
and message, the same source coordinates, `dlq.redrive.attempt` = failed redrives so far and
`dlq.redrive.from` = the dead letter it came from. So the dead-letter topic is written by the
worker only, and a redrive group reads each dead letter once, whatever failed before; parked
records are redriven only when asked (`dlq redrive --parked`), a run never reads what it
parked itself (its range ends at the end offsets fixed when it started), and a record whose
failed redrives reached `max_attempts` is left where it is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiokafka.structs import TopicPartition

from processor.core.records import OutputRecord
from processor.dlq.letters import ATTEMPT, REDRIVEN_FROM, DeadLetter
from processor.runtime.handler import Outputs
from processor.stages.identity import IdentityHandler, process_safely

SkipReason = Literal["not_a_dead_letter", "other_source", "code_not_selected", "already_redriven"]


@dataclass(frozen=True)
class RedriveOptions:
    #: The topic redriven: the dead-letter topic, or the parking topic.
    topic: str
    #: Only dead letters whose original came from this topic (the raw topic): a control
    #: record's dead letter (`invalid_control`) is not a webhook.
    source_topic: str
    #: Error codes to redrive; empty: all.
    codes: frozenset[str] = frozenset()
    #: Redrive records that failed fewer redrives than this (parked records carry the count).
    max_attempts: int = 3
    #: Run the pipeline and count, publish nothing.
    dry_run: bool = False


@dataclass
class RedriveCounts:
    read: int = 0
    redriven: int = 0
    skipped: Counter[SkipReason] = field(default_factory=Counter)
    #: Error codes of the dead letters redriven.
    codes: Counter[str] = field(default_factory=Counter)


class RedriveHandler(IdentityHandler):
    def __init__(self, *args: Any, options: RedriveOptions, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.options = options
        self.counts = RedriveCounts()

    def _skip(self, letter: DeadLetter) -> SkipReason | None:
        options = self.options
        if letter.source_topic != options.source_topic:
            return "other_source"
        if options.codes and letter.code not in options.codes:
            return "code_not_selected"
        if letter.attempt >= options.max_attempts:
            return "already_redriven"
        return None

    def process(self, tp: TopicPartition, messages: list[Any], out: Outputs) -> int:
        pipeline, counts = self.pipeline, self.counts
        emit = out.sink.emitter(self.topics)
        size = 0
        for message in messages:
            size += len(message.value or b"")
            counts.read += 1
            letter = DeadLetter.of(message.headers)
            reason = "not_a_dead_letter" if letter is None else self._skip(letter)
            if letter is None or reason is not None:
                counts.skipped[reason or "not_a_dead_letter"] += 1
                continue
            counts.redriven += 1
            counts.codes[letter.code] += 1
            record = letter.original(message.key, message.value, message.timestamp)
            target = _count_only if self.options.dry_run else _guarded(emit, letter, tp, message)
            process_safely(pipeline, record, target)
        return size

    def summary(self) -> dict[str, Any]:
        counts = self.counts
        return {
            **super().summary(),
            "dead_letters_read": counts.read,
            "redriven": counts.redriven,
            "not_redriven": dict(counts.skipped),
        }


def _count_only(output: OutputRecord) -> None:
    """Dry run: the pipeline's own stats count the outcome; nothing is published."""


def _guarded(
    emit: Callable[[OutputRecord], None], letter: DeadLetter, tp: TopicPartition, message: Any
) -> Callable[[OutputRecord], None]:
    """`emit` that marks a new dead letter (bound for the parking topic) as one more failed
    redrive of this record."""
    marks = [
        (ATTEMPT, str(letter.attempt + 1).encode()),
        (REDRIVEN_FROM, f"{tp.topic}:{tp.partition}:{message.offset}".encode()),
    ]

    def guarded(output: OutputRecord) -> None:
        if output.route == "dlq":
            output = OutputRecord("dlq", output.key, output.value, [*output.headers, *marks])
        emit(output)

    return guarded
