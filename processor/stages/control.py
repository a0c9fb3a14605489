"""Follow the enablement control topic: load it to its end before processing, then keep
applying changes while the worker runs (docs/enablement.md: a change never needs a restart)."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from processor.core.control import apply_record, next_change, parse_change
from processor.core.records import InputRecord, ItemError
from processor.core.registry import Registry
from processor.core.route import dead_letter
from processor.runtime.aiokafka_private import stop_consumer
from processor.runtime.clients import make_consumer, make_producer
from processor.runtime.reader import assign_all, read_topic, records_to_end
from processor.runtime.tasks import cancel_and_wait
from schemas.control import EnablementChange, EnablementState
from schemas.settings import Settings

log = structlog.get_logger("processor.control")


class ControlTopicMissingError(Exception):
    """The control topic is missing: a configuration mistake, stated in one line."""


class ControlFollower:
    def __init__(self, settings: Settings, registry: Registry, producer: Any) -> None:
        self._settings = settings
        self.topic = settings.control_topic
        self._registry = registry
        self._producer = producer
        # Only committed changes count (a transactional writer's aborted ones never do).
        self._consumer = make_consumer(settings, group_id=None, isolation_level="read_committed")
        self._task: asyncio.Task[None] | None = None
        self.applied = 0
        self.invalid = 0

    async def load(self) -> None:
        """Start and apply the whole topic as of now; then follow it in the background."""
        await self._consumer.start()
        try:
            tps = await assign_all(self._consumer, self._settings.control_topic)
        except LookupError:
            raise ControlTopicMissingError(
                f"setting control_topic: topic {self._settings.control_topic} does not exist "
                "(create it with `bsuid-processor topics ensure` or --create-topics)"
            ) from None
        await self._consumer.seek_to_beginning(*tps)
        async for message in records_to_end(self._consumer, tps, timeout_s=60.0):
            await self._apply(message)
        log.info("control topic loaded", changes=self.applied, invalid=self.invalid)
        self._task = asyncio.create_task(self._follow(), name="control-follower")

    async def _follow(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=1000)
            for messages in batch.values():
                for message in messages:
                    await self._apply(message)

    async def _apply(self, message: Any) -> None:
        outcome = apply_record(self._registry, message.key, message.value)
        if outcome == "applied":
            self.applied += 1
            log.info("enablement change applied", number_key=_masked_key(message.key))
        elif isinstance(outcome, ItemError):
            self.invalid += 1
            log.error("invalid control record", offset=message.offset, error=outcome.message)
            record = InputRecord(
                value=message.value or b"",
                key=message.key,
                headers=list(message.headers),
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
            )
            letter = dead_letter(record, outcome)
            await self._producer.send_and_wait(
                self._settings.dlq_topic, letter.value, key=letter.key, headers=letter.headers
            )

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        await stop_consumer(self._consumer)


def _masked_key(key: bytes | None) -> str:
    text = (key or b"").decode("utf-8", "replace")
    return text[:4] + "***" + text[-2:] if len(text) > 6 else "***"


async def latest_changes(settings: Settings) -> dict[str, EnablementChange]:
    """The newest change per number on the control topic (`numbers list`)."""
    latest: dict[str, EnablementChange] = {}
    for message in await read_topic(settings, settings.control_topic):
        if message.value is None:
            continue
        change = parse_change(message.key, message.value)
        if not isinstance(change, ItemError):
            latest[change.number] = change
    return latest


async def publish_change(settings: Settings, state: EnablementState) -> None:
    """Publish `state` as the number's next change, its history carried along (`numbers set`)."""
    previous = (await latest_changes(settings)).get(state.number)
    producer = make_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.control_topic, next_change(previous, state), key=state.number.encode()
        )
    finally:
        await producer.stop()
