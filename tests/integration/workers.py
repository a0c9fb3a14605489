"""Worker subprocesses for the integration tests: started, signalled, killed like in production."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


class WorkerProcess:
    """`python -m processor run` with the test's settings in its environment."""

    def __init__(self, env: dict[str, str], log_dir: Path, name: str, *extra: str) -> None:
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "processor", "run", *extra],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def logged(self, event: str) -> list[dict[str, Any]]:
        """The JSON log lines of `event`, in order (BSUID_LOG_FORMAT=json)."""
        lines = [json.loads(line) for line in self.log_text().splitlines() if line[:1] == "{"]
        return [line for line in lines if line.get("event") == event]

    def wait_for_log(self, text: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.log_text():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not logged in {timeout_s} s:\n{self.log_text()[-3000:]}")

    def signal(self, signum: int) -> None:
        os.kill(self.process.pid, signum)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.process.wait(10)

    def wait(self, timeout_s: float) -> int:
        try:
            return self.process.wait(timeout_s)
        finally:
            self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log.close()


async def terminate(worker: WorkerProcess, timeout_s: float = 60.0) -> None:
    """SIGTERM, then require the drain-commit-exit-0 shutdown (log tail on failure)."""
    worker.signal(signal.SIGTERM)
    code = await asyncio.to_thread(worker.wait, timeout_s)
    assert code == 0, worker.log_text()[-3000:]


async def drain(env: dict[str, str], log_dir: Path, name: str, timeout_s: float = 180.0) -> None:
    """A burst worker that reads what is left to the end, commits and exits 0."""
    worker = WorkerProcess(env, log_dir, name, "--exit-when-drained")
    try:
        code = await asyncio.to_thread(worker.wait, timeout_s)
        assert code == 0, worker.log_text()[-3000:]
    finally:
        worker.stop()
