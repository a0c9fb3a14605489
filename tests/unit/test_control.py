"""Control-topic records applied to the registry: event-time gating and invalid_control."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from processor.core.control import apply_record, next_change, parse_change
from processor.core.records import ItemError
from processor.core.registry import Registry
from schemas.control import CHANGE_DECODER, EnablementState
from schemas.registry import NumberEntry

B = "+15551230002"
T1 = datetime(2026, 6, 1, tzinfo=UTC)
T2 = datetime(2026, 7, 1, tzinfo=UTC)


def state(enabled: bool, when: datetime, scope: str = "acme") -> EnablementState:
    return EnablementState(number=B, scope=scope, bsuid_enabled=enabled, effective_at=when)


def base() -> Registry:
    return Registry([NumberEntry(number=B, phone_number_id="200000000000002", scope="acme")])


def enabled_at(registry: Registry, when: datetime) -> bool:
    found = registry.lookup("", B, int(when.timestamp()))
    assert found is not None
    return found.bsuid_enabled


def test_a_change_applies_from_its_effective_time_on() -> None:
    registry = base()
    assert apply_record(registry, B.encode(), next_change(None, state(True, T1))) == "applied"
    assert not enabled_at(registry, datetime(2026, 5, 31, tzinfo=UTC))
    assert enabled_at(registry, T1)
    assert enabled_at(registry, datetime(2027, 1, 1, tzinfo=UTC))


def test_history_survives_compaction_of_earlier_records() -> None:
    first = next_change(None, state(True, T1))
    second = next_change(CHANGE_DECODER.decode(first), state(False, T2))
    registry = base()
    # Only the latest record is left after compaction: it carries the whole timeline.
    apply_record(registry, B.encode(), second)
    assert not enabled_at(registry, datetime(2026, 5, 1, tzinfo=UTC))
    assert enabled_at(registry, datetime(2026, 6, 15, tzinfo=UTC))
    assert not enabled_at(registry, datetime(2026, 7, 2, tzinfo=UTC))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (B.encode(), b"not json"),
        (B.encode(), b'{"number": "+15551230002", "scope": 7}'),
        (B.encode(), b'{"number": "+15551230002", "scope": "acme"}'),  # no effectiveAt
        (
            B.encode(),
            b'{"number": "+15551230002", "scope": "acme", "effectiveAt": "2026-06-01T00:00:00"}',
        ),
        (b"12345", b'{"number": "12345", "scope": "acme", "effectiveAt": "2026-06-01T00:00:00Z"}'),
        (b"+15551230001", next_change(None, state(True, T1))),  # key is another number
        (B.encode(), next_change(None, state(True, T1, scope="a/b"))),
        (
            B.encode(),
            b'{"number": "+15551230002", "scope": "acme", '
            b'"effectiveAt": "2026-06-01T00:00:00Z", "extra": 1}',
        ),
    ],
)
def test_malformed_records_are_invalid_control_and_change_nothing(key: bytes, value: bytes) -> None:
    registry = base()
    outcome = apply_record(registry, key, value)
    assert isinstance(outcome, ItemError)
    assert outcome.code == "invalid_control"
    assert not enabled_at(registry, datetime(2030, 1, 1, tzinfo=UTC))


def test_tombstones_are_ignored() -> None:
    registry = base()
    apply_record(registry, B.encode(), next_change(None, state(True, T1)))
    assert apply_record(registry, B.encode(), None) == "tombstone"
    assert enabled_at(registry, T2)


def test_parse_keeps_every_field() -> None:
    change = parse_change(B.encode(), next_change(None, state(True, T1)))
    assert not isinstance(change, ItemError)
    assert msgspec.to_builtins(change)["effectiveAt"] == "2026-06-01T00:00:00Z"
