"""A side task that swallows a cancellation is still stopped (CPython gh-86296 on 3.11)."""

from __future__ import annotations

import asyncio

import pytest

from processor.runtime import tasks


async def test_a_task_that_swallows_one_cancellation_is_cancelled_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tasks, "RECANCEL_S", 0.05)
    swallowed: list[bool] = []

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            swallowed.append(True)  # what wait_for may do on 3.11: carry on
        await asyncio.sleep(3600)

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(tasks.cancel_and_wait(task), 10)
    assert task.done()
    assert swallowed == [True]


async def test_nothing_to_stop() -> None:
    await tasks.cancel_and_wait(None)
    done = asyncio.get_running_loop().create_future()
    done.set_result(1)
    await tasks.cancel_and_wait(done)
