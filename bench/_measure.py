"""Run one consumer subprocess and measure it from outside: committed offsets, CPU, RSS.

The throughput window is read from the consumer group's committed offsets, polled every
100 ms with an admin client: it opens at the first poll that sees a non-zero committed sum
(t0, c0) and closes at the first poll that sees every input committed (t1). The rate is
(total - c0) / (t1 - t0): the records committed before t0 are left out together with the
time they took (start-up, group join, first fetch), which is the same as adding them at the
steady rate. Both the baseline and the worker commit only acknowledged offsets, at most every
200 ms, so the same clock fits both. CPU is the user+system time (psutil) of the child and
its own children (`run --processes N`), read at t0 and t1, so it covers the same window; RSS
(summed the same way) is sampled every 50 ms for the peak.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # no stubs in the dev dependencies
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

POLL_S = 0.1
RSS_SAMPLE_S = 0.05
EXIT_GRACE_S = 60.0


class RunFailedError(RuntimeError):
    """The subprocess died or stalled; the message carries the tail of its log."""


@dataclass
class Measured:
    total: int
    #: Committed sum at the first poll that saw one (excluded from the window).
    window_start_records: int
    window_s: float
    window_cpu_s: float
    #: From launch to the first observed commit: process start, group join, first batch.
    startup_s: float
    lifetime_cpu_s: float
    peak_rss_bytes: int
    exit_code: int
    #: RSS when the committed sum first reached each requested mark.
    rss_at: dict[int, int] = field(default_factory=dict)

    @property
    def window_records(self) -> int:
        return self.total - self.window_start_records

    @property
    def records_per_s(self) -> float:
        return self.window_records / self.window_s

    @property
    def cpu_s_per_100k(self) -> float:
        return self.window_cpu_s / self.window_records * 100_000


def _tree(proc: psutil.Process) -> list[psutil.Process]:
    """The process and its children: `run --processes N` computes in its children."""
    return [proc, *proc.children(recursive=True)]


def _cpu_s(proc: psutil.Process) -> float:
    total = 0.0
    for member in _tree(proc):
        with contextlib.suppress(psutil.Error):  # a child may exit between list and read
            times = member.cpu_times()
            total += times.user + times.system
    return total


def _rss(proc: psutil.Process) -> int:
    total = 0
    for member in _tree(proc):
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss
    return int(total)


async def _committed_sum(
    admin: AIOKafkaAdminClient, group: str, partitions: list[TopicPartition]
) -> int:
    try:
        offsets = await admin.list_consumer_group_offsets(group, partitions=partitions)
    except KafkaError:
        return 0  # the group (or its coordinator) does not exist yet: nothing committed
    return sum(max(meta.offset, 0) for meta in offsets.values())


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


async def run_measured(
    name: str,
    cmd: Sequence[str],
    *,
    env: dict[str, str],
    bootstrap_servers: str,
    group: str,
    partitions: list[TopicPartition],
    total: int,
    stdout_path: Path,
    stderr_path: Path,
    timeout_s: float,
    rss_marks: Sequence[int] = (),
) -> Measured:
    """Start `cmd`, wait until `group` committed `total` offsets and the process exited."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        launched = time.perf_counter()
        process = await asyncio.create_subprocess_exec(*cmd, env=env, stdout=out, stderr=err)
    proc = psutil.Process(process.pid)
    peak_rss = 0
    last_cpu = 0.0
    stop_sampling = asyncio.Event()

    async def sample() -> None:
        # The peak between polls matters (a batch of big bodies), hence a faster sampler.
        nonlocal peak_rss, last_cpu
        while not stop_sampling.is_set():
            try:
                peak_rss = max(peak_rss, _rss(proc))
                last_cpu = _cpu_s(proc)
            except psutil.Error:
                return  # exited (or a zombie): the last sample stands
            await asyncio.sleep(RSS_SAMPLE_S)

    sampler = asyncio.create_task(sample())
    start: tuple[float, int, float] | None = None
    end: tuple[float, float] | None = None
    rss_at: dict[int, int] = {}
    pending_marks = sorted(rss_marks)
    deadline = launched + timeout_s
    try:
        while end is None:
            committed = await _committed_sum(admin, group, partitions)
            now = time.perf_counter()
            try:
                cpu = _cpu_s(proc)
                rss = _rss(proc)
            except psutil.Error:
                cpu, rss = last_cpu, 0
            while pending_marks and committed >= pending_marks[0]:
                rss_at[pending_marks.pop(0)] = rss
            if committed > 0 and start is None:
                start = (now, committed, cpu)
            if committed >= total:
                end = (now, cpu)
                break
            if process.returncode is not None:
                raise RunFailedError(
                    f"{name} exited {process.returncode} after committing {committed:,} of "
                    f"{total:,}:\n{_tail(stderr_path)}"
                )
            if now > deadline:
                raise RunFailedError(
                    f"{name} committed only {committed:,} of {total:,} in {timeout_s:.0f} s:"
                    f"\n{_tail(stderr_path)}"
                )
            await asyncio.sleep(max(0.0, POLL_S - (time.perf_counter() - now)))
        try:
            exit_code = await asyncio.wait_for(process.wait(), EXIT_GRACE_S)
        except TimeoutError:
            raise RunFailedError(
                f"{name} did not exit {EXIT_GRACE_S:.0f} s after its last commit:\n"
                f"{_tail(stderr_path)}"
            ) from None
    finally:
        stop_sampling.set()
        await sampler
        if process.returncode is None:
            process.kill()
            await process.wait()
        await admin.close()
    assert start is not None  # committed >= total > 0 sets it first
    t0, c0, cpu0 = start
    t1, cpu1 = end
    if t1 <= t0:
        # Everything committed by the first poll that saw a commit (a tiny run): fall back
        # to the time since launch, start-up included, and say so through startup_s = 0.
        t0, c0, cpu0 = launched, 0, 0.0
    return Measured(
        total=total,
        window_start_records=c0,
        window_s=t1 - t0,
        window_cpu_s=cpu1 - cpu0,
        startup_s=start[0] - launched if t0 != launched else 0.0,
        lifetime_cpu_s=max(last_cpu, cpu1),
        peak_rss_bytes=peak_rss,
        exit_code=exit_code,
        rss_at=rss_at,
    )


def leftover_children() -> list[psutil.Process]:
    """Processes this bench started that are still alive (should be none at the end)."""
    with contextlib.suppress(psutil.Error):
        return [p for p in psutil.Process().children(recursive=True) if p.is_running()]
    return []
