"""Nothing changes for users: the outputs of the sample fixtures and of a signed generated
stream hash to the digests checked in (tests/golden/README.md says how to renew them)."""

from __future__ import annotations

import pytest

from tests.golden.digest import RUNNERS, SETS, checked_in, digest


@pytest.mark.parametrize("runner", list(RUNNERS))
@pytest.mark.parametrize("name", ["fixtures", "signed"])
def test_outputs_match_the_checked_in_digest(name: str, runner: str) -> None:
    assert digest(SETS[name](), RUNNERS[runner]).line() == checked_in()[name]
