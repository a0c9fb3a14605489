"""BSUID rules (docs/classification.md): child vs parent, length limits, case, opacity."""

from __future__ import annotations

import pytest

from processor.core.bsuid import (
    MAX_BODY,
    MAX_LEGACY_BODY,
    looks_like_bsuid,
    parse_child,
    parse_parent,
)


def test_child_bsuid_is_kept_verbatim() -> None:
    bsuid = parse_child("US.13491208655302741918")
    assert bsuid is not None
    assert bsuid.value == "US.13491208655302741918"
    assert bsuid.country == "US"
    assert not bsuid.legacy_length


@pytest.mark.parametrize("text", ["US.AbCdEf123", "US.abc", "GB.000123", "BR.0"])
def test_case_and_leading_zeros_are_kept(text: str) -> None:
    bsuid = parse_child(text)
    assert bsuid is not None
    assert bsuid.value == text


def test_128_char_body_is_current_length() -> None:
    bsuid = parse_child("US." + "a" * MAX_BODY)
    assert bsuid is not None
    assert not bsuid.legacy_length


@pytest.mark.parametrize("length", [MAX_BODY + 1, 200, MAX_LEGACY_BODY])
def test_pre_2026_bodies_up_to_256_are_accepted_and_flagged(length: int) -> None:
    bsuid = parse_child("US." + "7" * length)
    assert bsuid is not None
    assert bsuid.legacy_length
    assert len(bsuid.value) == length + 3


def test_257_char_body_is_rejected() -> None:
    assert parse_child("US." + "7" * (MAX_LEGACY_BODY + 1)) is None
    assert parse_parent("US.ENT." + "7" * (MAX_LEGACY_BODY + 1)) is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "US.",
        "US",
        "us.123",  # the country code is upper case
        "Us.123",
        "USA.123",
        "U.123",
        "12.345",
        " US.123",  # never trimmed: surrounding spaces make it malformed
        "US.123 ",
        "US.123\n",
        "US.12-34",
        "US.12_34",
        "US.12.34",
        "US.١٢٣",  # non-ASCII digits
        "US.ÄBC",
        "US.ENT.1029384756102938475",  # a parent where a child is expected
    ],
)
def test_malformed_child(text: str) -> None:
    assert parse_child(text) is None


def test_parent_bsuid() -> None:
    parent = parse_parent("US.ENT.11815799212886844830")
    assert parent is not None
    assert parent.value == "US.ENT.11815799212886844830"
    assert parent.country == "US"
    assert not parent.legacy_length
    legacy = parse_parent("US.ENT." + "x" * (MAX_BODY + 1))
    assert legacy is not None
    assert legacy.legacy_length


@pytest.mark.parametrize("text", ["US.11815799212886844830", "US.ent.123", "US.ENT.", "ENT.123"])
def test_malformed_parent(text: str) -> None:
    assert parse_parent(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("US.123", True),
        ("US.ENT.123", True),
        ("14155550123", False),
        ("+14155550123", False),
        ("", False),
        ("US.", False),
        ("1S.123", False),
    ],
)
def test_looks_like_bsuid(text: str, expected: bool) -> None:
    assert looks_like_bsuid(text) is expected
