"""A background reader of the processor's three output topics, for tests that watch a live
worker: each record is handed to `see` as it arrives."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer

from schemas.settings import Settings


class OutputTail:
    """Reads identity, dropped and dead-letter topics from the start until `stop()`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.routes = {
            settings.identity_topic: "identity",
            settings.dropped_topic: "dropped",
            settings.dlq_topic: "dlq",
        }
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def see(self, route: str, message: Any) -> None:
        """One output record of `route` (an aiokafka ConsumerRecord), in arrival order."""
        raise NotImplementedError

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="output-tail")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        consumer = AIOKafkaConsumer(
            *self.routes,
            bootstrap_servers=self.settings.bootstrap_servers,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
        )
        await consumer.start()
        try:
            while not self._stop.is_set():
                batch = await consumer.getmany(timeout_ms=200)
                for tp, messages in batch.items():
                    route = self.routes[tp.topic]
                    for message in messages:
                        self.see(route, message)
        finally:
            await consumer.stop()
