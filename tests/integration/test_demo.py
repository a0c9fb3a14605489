"""`make demo` works with nothing but Python: Tansu broker, no java, no mvn, no external Kafka.

Runs `python -m processor demo` as a subprocess whose PATH is an empty folder (the venv's
python is called by absolute path), so neither `java` nor `mvn` can be found, with
`BROKER=tansu` and no `KAFKA_BOOTSTRAP_SERVERS`.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

RECORDS = 3000
THROUGHPUT = re.compile(
    r"([\d,]+) webhooks -> ([\d,]+) identity events in ([\d.]+) s: "
    r"([\d,]+) webhooks/s, ([\d,]+) events/s"
)


def bare_env(tmp_path: Path) -> dict[str, str]:
    """The caller's environment with an empty PATH and no external broker."""
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "BROKER")}
    env.update(
        PATH=str(empty),
        BROKER="tansu",
        COLUMNS="120",  # rich sizes its tables to this when stdout is not a terminal
        PYTHONIOENCODING="utf-8",
    )
    assert shutil.which("java", path=env["PATH"]) is None
    assert shutil.which("mvn", path=env["PATH"]) is None
    return env


def demo(
    env: dict[str, str], *args: str, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "processor", "demo", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def route_totals(output: str) -> dict[str, int]:
    """The `total` column of the "Outputs per route" table, by route."""
    totals: dict[str, int] = {}
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│|┃]", line) if c.strip()]
        if len(cells) >= 2 and cells[0] in ("identity", "dropped", "dlq", "skipped"):
            totals.setdefault(cells[0], int(cells[-1].replace(",", "")))
    return totals


def format_totals(output: str) -> dict[str, int]:
    """The "Input webhooks per format" table, by format."""
    totals: dict[str, int] = {}
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│|┃]", line) if c.strip()]
        if len(cells) == 2 and cells[0] in ("meta", "connectly", "vonage", "wati"):
            totals[cells[0]] = int(cells[1].replace(",", ""))
    return totals


def test_demo_help_without_java(tmp_path: Path) -> None:
    done = demo(bare_env(tmp_path), "--help", timeout_s=60)
    assert done.returncode == 0, done.stderr
    assert "--records" in done.stdout
    assert "Tansu" in done.stdout


def test_demo_runs_on_tansu_without_java_or_maven(tmp_path: Path) -> None:
    done = demo(bare_env(tmp_path), "--records", str(RECORDS))
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]

    broker = re.search(r"broker: tansu (\S+) at (127\.0\.0\.1):(\d+)", output)
    assert broker is not None, output[-4000:]

    totals = route_totals(output)
    for route in ("identity", "dropped", "dlq"):
        assert totals.get(route, 0) > 0, f"{route}: {totals}\n{output[-4000:]}"
    formats = format_totals(output)
    assert set(formats) == {"meta", "connectly", "vonage", "wati"}, output[-4000:]
    assert all(count > 0 for count in formats.values())

    throughput = THROUGHPUT.search(output)
    assert throughput is not None, output[-4000:]
    webhooks, events, seconds, per_s = (
        int(throughput.group(1).replace(",", "")),
        int(throughput.group(2).replace(",", "")),
        float(throughput.group(3)),
        int(throughput.group(4).replace(",", "")),
    )
    assert webhooks == RECORDS
    assert events == totals["identity"] + totals["dropped"]
    assert seconds > 0
    assert per_s > 0
    print(f"\ndemo on tansu {broker.group(1)}: {totals}, {seconds} s, {per_s} webhooks/s")

    # The demo stopped the broker it started: nothing listens on its port any more.
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection((broker.group(2), int(broker.group(3))), timeout=2),
    ):
        pass
