"""Publish prepared raw records fast (demo, `generate --topic`, benchmarks, load tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from processor.core.records import Headers
from processor.runtime.clients import make_producer
from processor.runtime.sink import Record, Sink
from schemas.settings import Settings


async def publish(
    settings: Settings,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes, Headers]],
    *,
    chunk: int = 20_000,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Send (key, value, headers) records through the worker's own sink (batch API, Java
    partitioning), so generated data lands on the partitions real producers would use."""
    producer = make_producer(settings)
    await producer.start()
    sent = 0
    try:
        sink = Sink(producer)
        await sink.learn([topic])
        futures: list[asyncio.Future[Any]] = []
        for key, value, headers in records:
            sink.add(topic, Record(key, value, headers))
            sent += 1
            if sent % chunk == 0:
                futures += [sent.future for sent in await sink.flush()]
                if on_progress:
                    on_progress(sent)
        futures += [sent.future for sent in await sink.flush()]
        await asyncio.gather(*futures)
        if on_progress:
            on_progress(sent)
    finally:
        await producer.stop()
    return sent
