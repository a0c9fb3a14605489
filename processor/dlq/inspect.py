"""`dlq inspect`: what is on the dead-letter topic, counted, with a few samples per error code.

It reads a range of the topic (the same range options as `replay`) with a group-less
consumer, so it commits nothing and changes nothing. Samples show coordinates, size, a
digest of the body and the headers, never the body itself, and phone-shaped digits in the
key and the header values are masked: a dead letter holds a customer's message.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from processor.dlq.letters import DeadLetter
from processor.ops.log import mask_phones
from processor.runtime.aiokafka_private import stop_consumer
from processor.runtime.bounds import ReplayBounds, Start
from processor.runtime.clients import make_consumer
from schemas.settings import Settings

#: Longest header value shown in a sample.
HEADER_CHARS = 120
#: A range that stops advancing for this long is reported as stuck, not waited for.
STALL_S = 60.0


@dataclass(frozen=True)
class Sample:
    partition: int
    offset: int
    timestamp_ms: int
    key: str
    size: int
    #: First 16 hex digits of the body's SHA-256: tells identical bodies apart, shows nothing.
    sha256: str
    headers: list[tuple[str, str]]


@dataclass
class Inspection:
    topic: str
    partitions: int = 0
    read: int = 0
    by_code: Counter[str] = field(default_factory=Counter)
    by_partition: Counter[int] = field(default_factory=Counter)
    #: Failed redrives so far (0: dead-lettered by the worker, never redriven).
    by_attempt: Counter[int] = field(default_factory=Counter)
    by_source: Counter[str] = field(default_factory=Counter)
    #: Records without the dead-letter headers (written by something else).
    not_dead_letters: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    samples: dict[str, list[Sample]] = field(default_factory=dict)

    def add(self, message: Any, codes: frozenset[str], samples_per_code: int) -> None:
        letter = DeadLetter.of(message.headers)
        code = "(not a dead letter)" if letter is None else letter.code
        if codes and code not in codes:
            return
        self.read += 1
        self.by_partition[message.partition] += 1
        when = message.timestamp
        self.first_ms = when if self.first_ms is None else min(self.first_ms, when)
        self.last_ms = when if self.last_ms is None else max(self.last_ms, when)
        if letter is None:
            self.not_dead_letters += 1
        else:
            self.by_code[code] += 1
            self.by_attempt[letter.attempt] += 1
            self.by_source[letter.source_topic] += 1
        kept = self.samples.setdefault(code, [])
        if len(kept) < samples_per_code:
            kept.append(sample(message))


def _shown(value: bytes | None) -> str:
    text = mask_phones((value or b"").decode("utf-8", "replace"))
    return text if len(text) <= HEADER_CHARS else text[: HEADER_CHARS - 3] + "..."


def sample(message: Any) -> Sample:
    body: bytes = message.value or b""
    return Sample(
        partition=message.partition,
        offset=message.offset,
        timestamp_ms=message.timestamp,
        key="" if message.key is None else _shown(message.key),
        size=len(body),
        sha256=hashlib.sha256(body).hexdigest()[:16],
        headers=[(name, _shown(value)) for name, value in message.headers],
    )


async def inspect_dead_letters(
    settings: Settings,
    topic: str,
    start: Start = "earliest",
    to_ms: int | None = None,
    *,
    codes: frozenset[str] = frozenset(),
    samples_per_code: int = 2,
) -> Inspection:
    """Count the dead letters of `topic` (the dead-letter or the parking topic) in the range
    (to the end offsets as of now, or `to_ms`)."""
    inspection = Inspection(topic)
    # read_committed: what an exactly-once worker aborted was never a dead letter.
    consumer = make_consumer(settings, group_id=None, isolation_level="read_committed")
    await consumer.start()
    try:
        bounds = ReplayBounds(topic, start=start, to_ms=to_ms)
        await bounds.begin(consumer, settings, resume=False)
        inspection.partitions = len(bounds.partitions)
        loop = asyncio.get_running_loop()
        progress_at, last = loop.time(), -1
        while not bounds.finished():
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, messages in batches.items():
                kept, _ = bounds.clip(consumer, tp, messages)
                for message in kept:
                    inspection.add(message, codes, samples_per_code)
            if not batches:
                await bounds.reached(consumer)
            read, _ = bounds.progress({tp: await consumer.position(tp) for tp in bounds.partitions})
            if read != last:
                progress_at, last = loop.time(), read
            elif loop.time() - progress_at > STALL_S:
                raise TimeoutError(f"reading {topic} made no progress in {STALL_S:g} s")
    finally:
        await stop_consumer(consumer)
    return inspection
