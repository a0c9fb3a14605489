"""Stopping a side task for sure.

On Python 3.11 `asyncio.wait_for` can swallow a cancellation that lands while its inner
awaitable completes (CPython gh-86296, fixed in 3.12): a task cancelled at that moment goes on
running, and whoever awaits it waits forever (a stage that could not exit after SIGTERM).
The runtime therefore bounds awaits with `asyncio.timeout`, and stops its side tasks with
`cancel_and_wait`, which cancels again until the task is done.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

#: Between two cancellations of a task that did not end.
RECANCEL_S = 1.0


async def cancel_and_wait(task: asyncio.Future[Any] | None) -> None:
    """Cancel `task` and wait until it is done, cancelling again if it swallowed that."""
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=RECANCEL_S)
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()
