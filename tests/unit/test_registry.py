"""The number registry over time (docs/enablement.md): lookups by id and number, effective times."""

from __future__ import annotations

from processor.core.registry import NumberState, Registry, to_state
from schemas.registry import NumberEntry

A = NumberEntry(
    number="+15551230001", phone_number_id="200000000000001", scope="acme", bsuid_enabled=True
)


def state(enabled: bool, scope: str = "acme") -> NumberState:
    return NumberState(
        number="+15551230001",
        phone_number_id="200000000000001",
        scope=scope,
        bsuid_enabled=enabled,
    )


def test_sample_registry(registry: Registry) -> None:
    a = registry.lookup("200000000000001", "", 0)
    b = registry.lookup("", "+15551230002", 0)
    assert a is not None
    assert (a.number, a.scope, a.bsuid_enabled) == ("+15551230001", "acme", True)
    assert b is not None
    assert (b.phone_number_id, b.scope, b.bsuid_enabled) == ("200000000000002", "acme", False)


def test_unknown_numbers_are_not_found(registry: Registry) -> None:
    assert registry.lookup("999", "+15559999999", 0) is None
    assert registry.lookup("", "", 0) is None


def test_phone_number_id_wins_over_number() -> None:
    other = NumberEntry(number="+15551239999", phone_number_id="7", scope="other")
    registry = Registry([A, other])
    found = registry.lookup("7", "+15551230001", 0)
    assert found is not None
    assert found.scope == "other"
    # An unknown id falls back to the number.
    found = registry.lookup("8", "+15551230001", 0)
    assert found is not None
    assert found.scope == "acme"


def test_entry_number_is_normalized_to_e164() -> None:
    state_ = to_state(NumberEntry(number="15551230001", scope="acme"))
    assert state_.number == "+15551230001"
    assert not state_.bsuid_enabled  # off by default
    assert (
        Registry([NumberEntry(number="1 555 123 0001", scope="x")]).lookup("", "+15551230001", 0)
        is not None
    )


def test_state_in_force_at_the_event_time() -> None:
    registry = Registry([A])
    registry.apply(state(False), 1_800_000_000)
    before = registry.lookup("200000000000001", "", 1_799_999_999)
    at = registry.lookup("200000000000001", "", 1_800_000_000)
    after = registry.lookup("", "+15551230001", 1_900_000_000)
    assert before is not None
    assert before.bsuid_enabled
    assert at is not None
    assert not at.bsuid_enabled
    assert after is not None
    assert not after.bsuid_enabled


def test_out_of_order_changes_are_ordered_by_effective_time() -> None:
    registry = Registry()
    registry.apply(state(True), 300)
    registry.apply(state(False), 100)
    registry.apply(state(True, scope="later"), 200)
    assert registry.lookup("200000000000001", "", 50) is None  # nothing known before 100
    assert [registry.lookup("200000000000001", "", t).bsuid_enabled for t in (100, 250, 300)] == [  # type: ignore[union-attr]
        False,
        True,
        True,
    ]
    found = registry.lookup("200000000000001", "", 250)
    assert found is not None
    assert found.scope == "later"


def test_same_instant_later_record_wins() -> None:
    registry = Registry()
    registry.apply(state(True), 100)
    registry.apply(state(False), 100)
    found = registry.lookup("200000000000001", "", 100)
    assert found is not None
    assert not found.bsuid_enabled
    assert len(registry.history()) == 1


def test_history_and_current() -> None:
    registry = Registry([A])
    registry.apply(state(False), 100)
    history = registry.history()
    assert [when for when, _ in history][-1] == 100
    assert [s.bsuid_enabled for _, s in history] == [True, False]
    assert [s.bsuid_enabled for s in registry.current()] == [False]
