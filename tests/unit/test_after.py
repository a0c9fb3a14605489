"""After-records (a changelog) follow the outputs: in batch order, never after a failed batch."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError

from processor.runtime.after import AfterWriter
from processor.runtime.sink import Record


class Producer:
    """Records what is handed over, in order; each batch is acknowledged at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, list[bytes | None]]] = []

    def create_batch(self) -> Any:
        records: list[bytes | None] = []

        def append(**record: Any) -> object:
            records.append(record["key"])
            return object()

        return SimpleNamespace(append=append, records=records, close=lambda: None)

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> asyncio.Future[Any]:
        self.sent.append((topic, partition, batch.records))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(SimpleNamespace(offset=10 * len(self.sent)))
        return future


def pending() -> asyncio.Future[Any]:
    return asyncio.get_running_loop().create_future()


async def test_changelog_waits_for_outputs_and_keeps_batch_order() -> None:
    producer, logged = Producer(), []
    writer = AfterWriter(producer, lambda topic, p, end: logged.append((p, end)))
    first_out, second_out = pending(), pending()
    first = writer.after([first_out], [("changelog", 0, Record(b"k1", b"v1"))])
    second = writer.after(
        [second_out],
        [("changelog", 0, Record(b"k1", b"v2")), ("changelog", 1, Record(b"k2", b"v"))],
    )
    second_out.set_result(None)  # the later batch's outputs are acknowledged first ...
    await asyncio.sleep(0)
    assert producer.sent == []  # ... but its changelog waits for the earlier one's
    first_out.set_result(None)
    await asyncio.gather(first, second)
    assert producer.sent == [
        ("changelog", 0, [b"k1"]),
        ("changelog", 0, [b"k1"]),
        ("changelog", 1, [b"k2"]),
    ]
    assert logged == [(0, 11), (0, 21), (1, 31)]  # offset after each acknowledged batch


async def test_no_changelog_after_a_batch_whose_outputs_failed() -> None:
    producer = Producer()
    writer = AfterWriter(producer, lambda topic, p, end: None)
    failed_out = pending()
    first = writer.after([failed_out], [("changelog", 0, Record(b"k1", b"v1"))])
    second = writer.after([], [("changelog", 0, Record(b"k2", b"v2"))])
    failed_out.set_exception(KafkaTimeoutError())
    for task in (first, second):
        with pytest.raises(KafkaTimeoutError):
            await task
    assert producer.sent == []
    # After a reset (the stage read its state back), the chain starts again.
    writer.reset()
    await writer.after([], [("changelog", 0, Record(b"k3", b"v3"))])
    assert producer.sent == [("changelog", 0, [b"k3"])]
