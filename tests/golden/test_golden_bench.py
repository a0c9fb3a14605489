"""Nothing changes for users, at the scale of the benchmark: the 200k generated records of
`make bench` give outputs whose digest is the one checked in (README.md beside this file).

About 6 s per entry point on a 2-core VM (generation once), so `make test` runs it;
`make golden` runs it alone."""

from __future__ import annotations

import pytest

from tests.golden.digest import RUNNERS, DataSet, bench_set, checked_in, digest


@pytest.fixture(scope="module")
def bench() -> DataSet:
    return bench_set()


@pytest.mark.golden
@pytest.mark.parametrize("runner", list(RUNNERS))
def test_bench_outputs_match_the_checked_in_digest(bench: DataSet, runner: str) -> None:
    assert digest(bench, RUNNERS[runner]).line() == checked_in()["bench"]
