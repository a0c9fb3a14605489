"""`--processes N`: N processes of one stage's consumer group, started and stopped as one.

A Python process computes on one core, and the pipeline is CPU-bound; the consumer group
already spreads partitions over its members, so more cores means more members. The
supervisor holds no Kafka client and does no processing (the command creates the topics
once before, when asked): it starts the children, forwards every SIGTERM/SIGINT to all of
them (the first makes each drain and commit, a second stops them at once), and exits with
the first failure.

Fail fast: when a child exits non-zero the others are stopped (drained) and the supervisor
exits with that code, so whatever restarts the process (systemd, Kubernetes) restarts the
whole set instead of leaving it short of a member.

Children run in their own session so a terminal's Ctrl-C reaches them once, through the
supervisor; they stop by themselves when the supervisor disappears (`watch_supervisor`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Sequence

import structlog

from schemas.settings import Settings

log = structlog.get_logger("processor.ops.supervisor")

#: Set in each child's environment: its supervisor's pid and its own index.
SUPERVISOR_PID_ENV = "BSUID_SUPERVISOR_PID"
PROCESS_INDEX_ENV = "BSUID_PROCESS_INDEX"
_WATCH_INTERVAL_S = 1.0


def child_http_port(base: int, index: int) -> int:
    """Child `i` serves probes and metrics on `base + i` (0, off, stays off)."""
    return base + index if base else 0


def child_command(
    command: Sequence[str], run_args: Sequence[str], settings: Settings, index: int
) -> list[str]:
    """The stage's command (`run`, `links run`) with the parent's own flags (same
    environment, so the same settings), as one process, on its own port, without creating
    topics again."""
    port = child_http_port(settings.http_port, index)
    return [
        sys.executable,
        "-m",
        "processor",
        *command,
        *run_args,
        "--processes",
        "1",
        "--http-port",
        str(port),
        "--no-create-topics",
    ]


async def supervise(settings: Settings, command: Sequence[str], run_args: Sequence[str]) -> int:
    """Run `settings.processes` stage processes until they all exit; the exit code of the set."""
    children: list[asyncio.subprocess.Process] = []
    for index in range(settings.processes):
        env = os.environ | {SUPERVISOR_PID_ENV: str(os.getpid()), PROCESS_INDEX_ENV: str(index)}
        children.append(
            await asyncio.create_subprocess_exec(
                *child_command(command, run_args, settings, index),
                env=env,
                start_new_session=True,
            )
        )
    log.info(
        "worker processes started",
        pids=[child.pid for child in children],
        group=settings.group_id,
        http_ports=[child_http_port(settings.http_port, i) for i in range(len(children))],
    )
    loop = asyncio.get_running_loop()

    def forward(signum: int) -> None:
        log.info("forwarding signal to worker processes", signal=signal.Signals(signum).name)
        _signal_all(children, signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, forward, sig)
    try:
        return await _wait_all(children)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def _wait_all(children: list[asyncio.subprocess.Process]) -> int:
    waiting = {asyncio.ensure_future(child.wait()): index for index, child in enumerate(children)}
    exit_code = 0
    while waiting:
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        for finished in done:
            index = waiting.pop(finished)
            code = finished.result()
            if code == 0:
                log.info("worker process exited", process=index, pid=children[index].pid)
                continue
            log.error(
                "worker process failed",
                process=index,
                pid=children[index].pid,
                exit_code=code,
                stopping_others=bool(waiting) and exit_code == 0,
            )
            if exit_code == 0:
                exit_code = code if code > 0 else 1  # killed by a signal: code is -signum
                _signal_all(children, signal.SIGTERM)
    return exit_code


def _signal_all(children: list[asyncio.subprocess.Process], signum: int) -> None:
    for child in children:
        if child.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # exited since the check
                child.send_signal(signum)


async def watch_supervisor(request_stop: Callable[[], None]) -> None:
    """In a child: drain and stop when the supervisor is gone (killed with SIGKILL, say),
    instead of living on as an orphan member of the group."""
    supervisor = int(os.environ[SUPERVISOR_PID_ENV])
    # Polled: a parent's death raises no event a child could wait on (short of Linux prctl).
    while os.getppid() == supervisor:  # noqa: ASYNC110
        await asyncio.sleep(_WATCH_INTERVAL_S)
    log.warning("supervisor gone: stopping", supervisor_pid=supervisor)
    request_stop()
