"""`make test` runs the suite in parallel with one worker per broker (pytest-xdist's
`--dist loadgroup`, groups set in tests/conftest.py). This fails when grouping stops working
(as it did on pytest 9.2, pytest-dev/pytest-xdist#1386): every worker would then start its own
brokers, and the suite would run out of its time budget."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

GROUPED = """
import pytest

pytestmark = pytest.mark.xdist_group("one")


@pytest.mark.parametrize("i", range(4))
def test_in_the_group(i):
    pass
"""


def test_tests_of_one_group_run_in_one_worker(tmp_path: Path) -> None:
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not the project's settings
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p",
         "no:cacheprovider", "-c", str(tmp_path / "pytest.ini"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]
    workers = set(re.findall(r"\[(gw\d+)\] .*PASSED", done.stdout))
    assert len(workers) == 1, done.stdout[-2000:]
