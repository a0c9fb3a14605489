"""Fuzzing the pure pipeline (CI size; `make soak` runs a million inputs)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.reliability.fuzz import FuzzReport, run_fuzz

pytestmark = pytest.mark.timeout(300)

#: Codes the mutations must reach: a fuzzer that never gets past the JSON parser proves little.
REACHED = {
    "invalid_json", "unknown_format", "schema_mismatch", "invalid_bsuid", "invalid_phone",
    "identity_conflict", "missing_identity", "bad_signature", "too_large",
}  # fmt: skip


def test_fuzzed_inputs_are_all_accounted_for(report: Callable[[FuzzReport], None]) -> None:
    result = run_fuzz(20_000, seed_value=7, hypothesis_examples=1000, boundary_every=5000)
    report(result)
    assert result.crashes == 0, result.failures
    assert result.unaccounted == 0, result.failures
    assert result.unsigned_published == 0, result.failures
    assert result.inputs == 20_000
    assert result.by_source["hypothesis"] == 1000
    assert result.by_source["boundary"] == 4
    assert set(result.dead_letters) >= REACHED
    assert result.dead_letters["too_large"] >= 2
    assert result.outputs > 0
    assert result.skipped > 0
