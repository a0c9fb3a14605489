"""`dlq` and `schema` commands: wrong option values end with one line and exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "processor", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["dlq", "inspect", "--code", "nope"], "option --code"),
        (["dlq", "redrive", "--code", "bad signature"], "option --code"),
        (["dlq", "redrive", "--from", "yesterday"], "option --from"),
        (["dlq", "inspect", "--to", "2026-01-01T00:00:00"], "option --to"),
        (["dlq", "redrive", "--max-attempts", "0"], "'--max-attempts'"),
        (["schema", "nope"], "'nope' is not one of 'identity'"),
    ],
)
def test_a_wrong_option_is_one_line_and_exit_2(args: list[str], named: str) -> None:
    done = cli(*args)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert named in lines[0]
    assert done.stdout == ""


def test_every_command_has_help() -> None:
    for args in (["dlq", "--help"], ["dlq", "inspect", "--help"], ["dlq", "redrive", "--help"]):
        done = cli(*args)
        assert done.returncode == 0, done.stderr
        assert "Usage:" in done.stdout
    listing = cli("schema")
    assert listing.returncode == 0
    assert "identity.schema.json" in listing.stdout
