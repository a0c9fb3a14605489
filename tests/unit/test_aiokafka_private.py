"""What processor.runtime.aiokafka_private relies on is still there in the installed aiokafka.

These fail loudly on an aiokafka upgrade that moves a private attribute, instead of a guard
quietly doing nothing in production. (tests/integration/test_runtime.py checks the instance
attributes on clients started against a real broker.)
"""

from __future__ import annotations

import asyncio
import inspect
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import UnknownMemberIdError

from processor.runtime import aiokafka_private


def test_every_private_attribute_relied_on_exists() -> None:
    assert aiokafka_private.missing() == []


def test_the_commit_method_guarded_keeps_its_signature() -> None:
    parameters = list(inspect.signature(GroupCoordinator._do_commit_offsets).parameters)
    assert parameters == ["self", "assignment", "offsets"]


def test_coordinator_generation_is_set_in_its_constructor() -> None:
    # `generation` is an instance attribute: its assignment must still be in __init__.
    assert "self.generation" in inspect.getsource(GroupCoordinator.__init__)


async def test_guarded_commits_raise_while_membership_is_lost() -> None:
    sent: list[Any] = []

    async def send(assignment: Any, offsets: Any) -> str:
        sent.append(offsets)
        return "committed"

    consumer = SimpleNamespace(_coordinator=SimpleNamespace(_do_commit_offsets=send))
    lost = [False]
    assert aiokafka_private.refuse_commits_when(consumer, lambda: lost[0])
    guarded = consumer._coordinator._do_commit_offsets
    assert await guarded(None, {"tp": 1}) == "committed"
    lost[0] = True
    with pytest.raises(UnknownMemberIdError):
        await guarded(None, {"tp": 2})
    assert sent == [{"tp": 1}]


def test_nothing_to_guard_without_a_group() -> None:
    assert not aiokafka_private.refuse_commits_when(SimpleNamespace(_coordinator=None), bool)
    assert aiokafka_private.generation(SimpleNamespace()) is None


def test_generation_and_fenced_state_are_read_from_the_clients() -> None:
    consumer = SimpleNamespace(_coordinator=SimpleNamespace(generation=-1))
    assert aiokafka_private.generation(consumer) == -1
    fenced = SimpleNamespace(_txn_manager=SimpleNamespace(is_fatal_error=lambda: True))
    assert aiokafka_private.producer_is_fenced(fenced)
    assert not aiokafka_private.producer_is_fenced(SimpleNamespace(_txn_manager=None))


async def test_stop_consumer_lets_a_just_started_task_run_first() -> None:
    # aiokafka issue #647: cancelling a task that never started, then awaiting it, raises.
    started: list[bool] = []

    async def routine() -> None:
        try:
            started.append(True)
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass

    class Consumer:
        def __init__(self) -> None:
            self.task = asyncio.create_task(routine())

        async def stop(self) -> None:
            self.task.cancel()
            await self.task

    await aiokafka_private.stop_consumer(Consumer())
    assert started == [True]
