"""The consumer side of a stage: its rebalance listener and burst mode's "drained" test."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiokafka import ConsumerRebalanceListener
from aiokafka.structs import TopicPartition

PartitionsCallback = Callable[[set[TopicPartition]], Awaitable[None]]


class RebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Forwards rebalances to the stage; aiokafka awaits these before the rebalance goes on.

    A callback that raises is reported to `on_failure` (aiokafka would only log it and go on
    with the stage's state half updated; the stage stops instead)."""

    def __init__(
        self,
        on_revoked: PartitionsCallback,
        on_assigned: PartitionsCallback,
        on_failure: Callable[[str, Exception], None],
    ) -> None:
        self._on_revoked = on_revoked
        self._on_assigned = on_assigned
        self._on_failure = on_failure

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        try:
            await self._on_revoked(set(revoked))
        except Exception as exc:
            self._on_failure("partition revocation", exc)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        try:
            await self._on_assigned(set(assigned))
        except Exception as exc:
            self._on_failure("partition assignment", exc)


def now_ms() -> int:
    """The clock aiokafka stamps fetch responses with (`last_poll_timestamp`)."""
    return int(time.time() * 1000)


async def read_to_end(
    consumer: Any, partitions: Iterable[TopicPartition], since_ms: int, *, committed: bool = False
) -> bool:
    """Is every partition read to its end, as told by a fetch response newer than `since_ms`?

    Burst mode's "drained" test, called after a poll returned nothing. The end is the high
    watermark (the last stable offset when reading `committed` only) carried by fetch
    responses, right on every broker (Tansu's ListOffsets "latest" is off by a batch). A
    partition whose newest response predates `since_ms` is not known to be drained yet:
    aiokafka keeps fetching in the background, so a later call sees a fresh one. No quiet
    period decides anything.
    """
    for tp in partitions:
        polled = consumer.last_poll_timestamp(tp)
        if polled is None or polled < since_ms:
            return False
        end = consumer.last_stable_offset(tp) if committed else consumer.highwater(tp)
        if end is None or end < 0 or await consumer.position(tp) < end:
            return False
    return True
