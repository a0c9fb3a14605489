"""One dead letter as read back from the dead-letter topic (docs/schemas.md): why it failed, where
it came from, how often it was redriven, and the original record inside it.

A dead letter is the original record (key, bytes, headers) plus `dlq.*` headers. Unwrapping it
drops every `dlq.*` header and puts the record back at its source coordinates, so the pipeline
sees exactly what it saw the first time: same eventIds, same `source` in every event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from processor.core.records import Headers, InputRecord

PREFIX: Final = "dlq."
CODE: Final = "dlq.error.code"
MESSAGE: Final = "dlq.error.message"
SOURCE_TOPIC: Final = "dlq.source.topic"
SOURCE_PARTITION: Final = "dlq.source.partition"
SOURCE_OFFSET: Final = "dlq.source.offset"
#: How many redrives this record already failed (absent: none). Set on a record that failed
#: again during a redrive; redrive skips records at or past `--max-attempts` (default 1).
ATTEMPT: Final = "dlq.redrive.attempt"
#: The dead letter (`topic:partition:offset`) whose redrive failed again into this one.
REDRIVEN_FROM: Final = "dlq.redrive.from"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    code: str
    message: str
    source_topic: str
    source_partition: int
    source_offset: int
    attempt: int
    #: The record's own headers, every `dlq.*` header removed.
    original_headers: Headers

    @classmethod
    def of(cls, headers: Sequence[tuple[str, bytes]]) -> DeadLetter | None:
        """The dead letter these headers describe; None when they are not a dead letter's
        (no error code, or source coordinates that are missing or not numbers)."""
        found: dict[str, str] = {}
        original: Headers = []
        for name, value in headers:
            if name.startswith(PREFIX):
                found[name] = (value or b"").decode("utf-8", "replace")
            else:
                original.append((name, value))
        code, topic = found.get(CODE, ""), found.get(SOURCE_TOPIC, "")
        try:
            partition = int(found.get(SOURCE_PARTITION, ""))
            offset = int(found.get(SOURCE_OFFSET, ""))
            attempt = int(found.get(ATTEMPT, "0"))
        except ValueError:
            return None
        if not code or not topic:
            return None
        return cls(code, found.get(MESSAGE, ""), topic, partition, offset, attempt, original)

    def original(self, key: bytes | None, value: bytes | None, timestamp_ms: int) -> InputRecord:
        """The record as first consumed, at its source coordinates. The timestamp is the dead
        letter's own (the original's is not kept); the pipeline uses it only for a body with
        no time of its own."""
        return InputRecord(
            value=value or b"",
            key=key,
            headers=list(self.original_headers),
            topic=self.source_topic,
            partition=self.source_partition,
            offset=self.source_offset,
            timestamp_ms=timestamp_ms,
        )
