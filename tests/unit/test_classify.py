"""Identity classification: one row per class, every malformed identifier invalid."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from processor.core.appearance import Appearance, BusinessRef
from processor.core.classify import Classified, classify, iso_utc, parse_timestamp
from processor.core.records import ItemError

BSUID = "US.13491208655302741918"
PARENT = "US.ENT.11815799212886844830"
PHONE = "14155550123"


def app(**fields: Any) -> Appearance:
    base: dict[str, Any] = {
        "event_type": "inbound_message",
        "business": BusinessRef(format="meta", phone_number_id="200000000000001"),
        "natural_key": ("message", "wamid.X"),
        "timestamp": "1782000000",
        "path": "$.entry[0].changes[0].value.messages[0]",
    }
    return Appearance(**{**base, **fields})


def ok(found: Classified | ItemError) -> Classified:
    assert isinstance(found, Classified), found
    return found


def error(found: Classified | ItemError) -> ItemError:
    assert isinstance(found, ItemError), found
    return found


@pytest.mark.parametrize(
    ("bsuid", "phone", "expected"),
    [
        (BSUID, "", "bsuid_only"),
        (BSUID, PHONE, "phone_and_bsuid"),
        ("", PHONE, "phone_only"),
        ("", "+14155550123", "phone_only"),
    ],
)
def test_classes(bsuid: str, phone: str, expected: str) -> None:
    found = ok(classify(app(bsuid=bsuid, phone=phone), 0))
    assert found.identity_class == expected
    assert (found.bsuid.value if found.bsuid else "") == bsuid
    assert (found.phone.e164 if found.phone else "") == ("+14155550123" if phone else "")
    assert found.occurred_at == 1782000000


def test_neither_identifier_is_missing_identity() -> None:
    found = error(classify(app(), 0))
    assert found.code == "missing_identity"
    assert "$.entry[0].changes[0].value.messages[0]" in found.message


def test_parent_alone_is_not_an_identity() -> None:
    # A parent BSUID is never a primary key: without a child BSUID or phone there is no customer.
    assert error(classify(app(parent_bsuid=PARENT), 0)).code == "missing_identity"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"bsuid": "us.123"}, "invalid_bsuid"),
        ({"bsuid": PARENT}, "invalid_bsuid"),  # parent where a child is expected
        ({"bsuid": "US." + "9" * 257}, "invalid_bsuid"),
        ({"bsuid": BSUID, "parent_bsuid": BSUID}, "invalid_bsuid"),  # child where parent expected
        ({"bsuid": BSUID, "parent_bsuid": "US.ENT.x-y"}, "invalid_bsuid"),
        ({"bsuid": BSUID, "previous_bsuid": "garbage"}, "invalid_bsuid"),
        ({"phone": "abc"}, "invalid_phone"),
        ({"phone": "12"}, "invalid_phone"),
        # Any malformed identifier makes the event invalid, even next to a valid one.
        ({"bsuid": BSUID, "phone": "1-800-FLOWERS"}, "invalid_phone"),
        ({"bsuid": "US.bad!", "phone": PHONE}, "invalid_bsuid"),
    ],
)
def test_malformed_identifiers(fields: dict[str, Any], code: str) -> None:
    assert error(classify(app(**fields), 0)).code == code


def test_parent_and_previous_are_carried() -> None:
    found = ok(classify(app(bsuid=BSUID, parent_bsuid=PARENT, previous_bsuid="US.1"), 0))
    assert found.parent_bsuid is not None
    assert found.parent_bsuid.value == PARENT
    assert found.previous_bsuid is not None
    assert found.previous_bsuid.value == "US.1"
    assert found.identity_class == "bsuid_only"


def test_legacy_length_is_reported_for_child_and_parent() -> None:
    assert ok(classify(app(bsuid="US." + "1" * 200), 0)).legacy_length
    assert ok(classify(app(bsuid=BSUID, parent_bsuid="US.ENT." + "1" * 200), 0)).legacy_length
    assert not ok(classify(app(bsuid="US." + "1" * 128), 0)).legacy_length


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [("1782000000", 1782000000), (1782000000, 1782000000), ("0", 0), (None, 77), ("", 77)],
)
def test_timestamps(timestamp: str | int | None, expected: int) -> None:
    assert parse_timestamp(timestamp, 77) == expected


@pytest.mark.parametrize("timestamp", ["abc", "-1", -5, "1.5", 10**30, "9" * 5000, 253_402_300_800])
def test_bad_timestamps_are_schema_mismatch(timestamp: str | int) -> None:
    assert parse_timestamp(timestamp, 0) is None
    found = error(classify(app(bsuid=BSUID, timestamp=timestamp), 0))
    assert found.code == "schema_mismatch"


def test_fallback_time_is_range_checked_too() -> None:
    # The Kafka timestamp is set by the producer: an absurd one must not crash the pipeline.
    assert parse_timestamp(None, 2**62) is None
    assert parse_timestamp(None, -1) is None


def test_iso_utc() -> None:
    assert iso_utc(0) == "1970-01-01T00:00:00Z"
    assert iso_utc(1782000000) == "2026-06-21T00:00:00Z"
    assert iso_utc(253_402_300_799) == "9999-12-31T23:59:59Z"


def test_iso_utc_matches_strftime_across_the_range() -> None:
    rng = random.Random(5)
    for seconds in [0, 86_399, 86_400, 1782000000, 253_402_300_799] + [
        rng.randint(0, 253_402_300_799) for _ in range(2000)
    ]:
        assert iso_utc(seconds) == datetime.fromtimestamp(seconds, UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
