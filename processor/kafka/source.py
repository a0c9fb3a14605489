"""The consumer of the raw topic and its rebalance listener."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.structs import TopicPartition

from processor.kafka.client_config import connection_kwargs
from schemas.settings import Settings

PartitionsCallback = Callable[[set[TopicPartition]], Awaitable[None]]


def make_consumer(settings: Settings, *, group_id: str | None, **overrides: Any) -> Any:
    kwargs: dict[str, Any] = {
        **connection_kwargs(settings),
        "group_id": group_id,
        # Offsets are committed by the checkpoint only after outputs are acknowledged.
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": settings.session_timeout_ms,
        "heartbeat_interval_ms": settings.heartbeat_interval_ms,
        "max_poll_interval_ms": max(300_000, settings.session_timeout_ms * 3),
        # A 3 MB webhook must fit; Kafka returns an oversized first batch anyway.
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
        "fetch_max_bytes": 64 * 1024 * 1024,
        # Exactly-once: never process what an aborted transaction wrote upstream.
        "isolation_level": (
            "read_committed" if settings.guarantee == "exactly-once" else "read_uncommitted"
        ),
    }
    kwargs.update(overrides)
    return AIOKafkaConsumer(**kwargs)


async def read_to_end(consumer: Any, partitions: Iterable[TopicPartition]) -> bool:
    """Is every partition's position at its high watermark? Burst mode's "drained" test: the
    last fetch tells the watermark, the broker is asked when no fetch has yet."""
    for tp in partitions:
        highwater = consumer.highwater(tp)
        if highwater is None:
            highwater = (await consumer.end_offsets([tp]))[tp]
        if await consumer.position(tp) < highwater:
            return False
    return True


class RebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Forwards rebalances to the worker; aiokafka awaits these before the rebalance goes on."""

    def __init__(self, on_revoked: PartitionsCallback, on_assigned: PartitionsCallback) -> None:
        self._on_revoked = on_revoked
        self._on_assigned = on_assigned

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._on_assigned(set(assigned))
