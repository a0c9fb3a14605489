"""Every row of docs/troubleshooting.md, run as a user would: the exit status, one line on
stderr that is the documented line, and no traceback."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from processor.settings import CONFIG_ENV, ENV_VARS

DOC = Path(__file__).parents[2] / "docs" / "troubleshooting.md"

#: The files the examples name, as a user would have them in the current folder.
FILES = {
    "bodies.jsonl": '{"object": "whatsapp_business_account", "entry": []}\n',
    "broken.jsonl": "{broken\n",
    "empty.toml": "",
    "settings.toml": 'grup_id = "x"\n',
    "twice.toml": (
        '[[number]]\nnumber = "+15551230001"\nscope = "acme"\n'
        '[[number]]\nnumber = "+1 555 123 0001"\nscope = "acme"\n'
    ),
    "shared-id.toml": (
        '[[number]]\nnumber = "+15551230001"\nphone_number_id = "200000000000001"\nscope = "a"\n'
        '[[number]]\nnumber = "+15551230002"\nphone_number_id = "200000000000001"\nscope = "a"\n'
    ),
}


def rows() -> list[tuple[str, str, int, str]]:
    """(mistake, example command, exit status, printed line) from the table."""
    found = []
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in re.split(r"(?<!`)\|(?!`)", line.strip())[1:-1]]
        if len(cells) != 4 or cells[0] in ("mistake", "---"):
            continue
        mistake, example, status, printed = cells
        command = re.sub(r"\s*\(with .*\)$", "", example).strip("`")
        found.append((mistake, command, int(status), printed.removeprefix("`").removesuffix("`")))
    return found


def test_the_table_is_there() -> None:
    assert len(rows()) >= 15


@pytest.mark.parametrize(("mistake", "command", "status", "printed"), rows(), ids=lambda v: v)
def test_each_mistake_prints_one_line(
    mistake: str, command: str, status: int, printed: str, tmp_path: Path
) -> None:
    del mistake
    for name, content in FILES.items():
        (tmp_path / name).write_text(content)
    words = shlex.split(command)
    env = {k: v for k, v in os.environ.items() if k not in {*ENV_VARS.values(), CONFIG_ENV}}
    env["BSUID_CONNECT_TIMEOUT_S"] = "1"  # the broker rows: do not wait a minute
    env["BSUID_HTTP_PORT"] = "0"  # tests run in parallel: no two on the default port
    while "=" in words[0]:
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    assert words.pop(0) == "bsuid-processor"
    done = subprocess.run(
        [sys.executable, "-m", "processor", *words],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # A service's own log lines (JSON, as on any non-terminal stderr) may come first: `run`
    # logs its start and, while a broker does not answer, one warning per attempt. The
    # mistake itself is one line, and the only other one.
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("{")]
    assert "Traceback" not in done.stderr
    assert len(lines) == 1, done.stderr
    pattern = ".*".join(re.escape(part) for part in printed.split("…"))
    assert re.fullmatch(pattern, lines[0]), (lines[0], printed)
    assert done.returncode == status, done.stderr
