"""After-records: a batch's changelog is published only once the batch's outputs are in.

Each batch with after-records gets a task that (1) waits until every output of the batch is
acknowledged, (2) waits until the previous batch handed its after-records to the producer,
(3) hands over its own, and (4) waits for their acknowledgement. The checkpoint commits the
batch's input offsets when the task is done.

(2) keeps the changelog in batch order (compaction keeps a key's last record) and stops it
after a batch whose outputs failed: that batch's changes were never published, so no later
state that includes them may be logged either. Exactly-once needs none of this: a batch's
outputs and its after-records commit in one transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from processor.runtime.handler import AfterRecord
from processor.runtime.sink import Sink


class AfterWriter:
    def __init__(self, producer: Any, on_logged: Callable[[str, int, int], None]) -> None:
        self._sink = Sink(producer)
        #: Told (topic, partition, offset after the batch) once a batch is acknowledged.
        self._on_logged = on_logged
        #: Resolved once the newest batch has handed its records to the producer.
        self._turn: asyncio.Future[None] | None = None

    def after(
        self, outputs: list[asyncio.Future[Any]], records: list[AfterRecord]
    ) -> asyncio.Future[None]:
        """The task that publishes `records` once `outputs` are acknowledged."""
        previous = self._turn
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # A failed turn is re-raised by the next batch's task; the last one nobody awaits.
        turn.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._turn = turn
        return asyncio.ensure_future(self._write(outputs, records, previous, turn))

    def reset(self) -> None:
        """Forget the chain (its tasks were settled or cancelled)."""
        self._turn = None
        self._sink.discard()

    async def _write(
        self,
        outputs: list[asyncio.Future[Any]],
        records: list[AfterRecord],
        previous: asyncio.Future[None] | None,
        turn: asyncio.Future[None],
    ) -> None:
        try:
            _raise_first(await asyncio.gather(*outputs, return_exceptions=True))
            if previous is not None:
                await previous
            for topic, partition, record in records:
                self._sink.add(topic, record, partition)
            sent = await self._sink.flush()
        except BaseException as exc:
            self._sink.discard()
            if not turn.done():
                turn.set_exception(exc)
            raise
        turn.set_result(None)
        for batch, meta in zip(sent, await asyncio.gather(*(s.future for s in sent)), strict=True):
            self._on_logged(batch.topic, batch.partition, meta.offset + batch.records)


def _raise_first(results: list[Any]) -> None:
    # gather(return_exceptions=True) collects every failure (none goes unretrieved); the
    # first one is the batch's failure.
    for result in results:
        if isinstance(result, BaseException):
            raise result
