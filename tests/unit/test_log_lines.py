"""Log lines stay whole when several processes share one stderr (`run --processes N`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

WRITER = """
import sys
import structlog
from processor.ops.log import configure_logging

configure_logging("json", "info")
log = structlog.get_logger("test")
for i in range(5000):
    log.info("partitions assigned", partitions=[0, 2], process=int(sys.argv[1]), i=i)
"""


def test_processes_sharing_stderr_never_interleave_lines(tmp_path: Path) -> None:
    shared = tmp_path / "shared.log"
    with shared.open("ab") as out:  # O_APPEND, like a log file or a pipe
        writers = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, str(index)], stdout=out, stderr=subprocess.STDOUT
            )
            for index in range(2)
        ]
        assert [writer.wait(60) for writer in writers] == [0, 0]
    lines = shared.read_text().splitlines()
    assert len(lines) == 10_000
    events = [json.loads(line) for line in lines]  # a torn line would not parse
    assert sorted(e["process"] for e in events) == [0] * 5000 + [1] * 5000
