"""Every use of aiokafka's private internals, in one place (tested by test_aiokafka_private).

aiokafka has no public way to ask or do the four things below. `REQUIREMENTS` lists the class
attributes they rely on and `missing()` reports those a new aiokafka no longer has, so an
upgrade fails a unit test loudly instead of a guard silently doing nothing in production; the
integration suite checks the instance attributes on started clients.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final

from aiokafka.client import AIOKafkaClient
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import UnknownMemberIdError
from aiokafka.producer.transaction_manager import TransactionManager

REQUIREMENTS: Final[tuple[tuple[type, str], ...]] = (
    (GroupCoordinator, "_do_commit_offsets"),
    (TransactionManager, "is_fatal_error"),
    (AIOKafkaClient, "force_metadata_update"),
)


def missing() -> list[str]:
    """The class attributes this module relies on that the installed aiokafka lacks."""
    return [f"{owner.__name__}.{name}" for owner, name in REQUIREMENTS if not hasattr(owner, name)]


def generation(consumer: Any) -> int | None:
    """The consumer's group generation: -1 once the coordinator forgot this member (session
    expired, or a new broker), None without a group. aiokafka keeps it on `_coordinator`."""
    coordinator = getattr(consumer, "_coordinator", None)
    value = getattr(coordinator, "generation", None)
    return value if isinstance(value, int) else None


def refuse_commits_when(consumer: Any, refuse: Callable[[], bool]) -> bool:
    """Make every offset commit of a started `consumer` fail while `refuse()` is true; False
    when it has no group coordinator to guard (no group).

    aiokafka retries a failed commit with the generation its member has by then. After the
    coordinator forgot the member that is -1: a standalone commit that an empty (or a brand
    new, empty) group accepts, so a commit begun before a broker was replaced could land in
    the new one. The guard raises as a rebalance would (`UnknownMemberIdError`) inside that
    retry loop, so no such commit is ever sent.
    """
    coordinator = getattr(consumer, "_coordinator", None)
    send = getattr(coordinator, "_do_commit_offsets", None)
    if send is None:
        return False

    async def guarded(assignment: Any, offsets: Any) -> Any:
        if refuse():
            raise UnknownMemberIdError("membership lost: offsets not committed")
        return await send(assignment, offsets)

    coordinator._do_commit_offsets = guarded  # type: ignore[union-attr]
    return True


def producer_is_fenced(producer: Any) -> bool:
    """A transactional producer in aiokafka's fatal state (fenced: ProducerFenced or
    InvalidProducerEpoch raised in its sender task), where abort_transaction() would fail an
    assertion instead of raising."""
    manager = getattr(producer, "_txn_manager", None)
    return manager is not None and bool(manager.is_fatal_error())


async def refresh_metadata(consumer: Any) -> None:
    """Ask the broker for metadata now: aiokafka refreshes only the topics a consumer is
    subscribed or assigned to, and has no public call for a topic it is about to assign."""
    await consumer._client.force_metadata_update()


async def stop_consumer(consumer: Any) -> None:
    """Stop `consumer`, also right after start().

    A group-less consumer's coordinator starts a task in start() that stop() cancels and
    awaits; cancelled before it first ran, that await raises CancelledError out of stop()
    (aiokafka issue #647, open). One turn of the loop lets the task start first.
    """
    await asyncio.sleep(0)
    await consumer.stop()
