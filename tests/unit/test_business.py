"""Business views, cached per number and registry state, say what `resolve_business` says."""

from __future__ import annotations

import pytest

from processor.core.appearance import BusinessRef
from processor.core.business import Businesses, business_view
from processor.core.gate import resolve_business
from processor.core.records import ItemError
from processor.core.registry import NumberState, Registry

REFS = [
    BusinessRef(format="meta", number="15551230001", phone_number_id="200000000000001"),
    BusinessRef(format="meta", phone_number_id="200000000000002", waba_id="300000000000001"),
    BusinessRef(format="connectly", number="+15551230002"),
    BusinessRef(format="vonage", number="15551230009"),  # not registered
    BusinessRef(format="meta", number="15559870000", phone_number_id="999", waba_id="3009"),
    BusinessRef(format="meta", phone_number_id="888"),  # only an id nobody knows
    BusinessRef(format="wati", number="not a number"),
    BusinessRef(format="connectly"),  # no business at all
]
#: Before, at and after the change `changed()` adds, and far in the past.
TIMES = [-(2**40), 1_781_999_999, 1_782_000_000, 1_782_000_001, 2**40]


def changed(registry: Registry) -> Registry:
    """Number 2 becomes enabled at 1_782_000_000; a new number appears at the same time."""
    registry.apply(
        NumberState(
            number="+15551230002",
            phone_number_id="200000000000002",
            scope="acme",
            bsuid_enabled=True,
        ),
        1_782_000_000,
    )
    registry.apply(
        NumberState(number="+15551230009", phone_number_id="", scope="initech", bsuid_enabled=True),
        1_782_000_000,
    )
    return registry


def expected(ref: BusinessRef, registry: Registry, when: int) -> object:
    found = resolve_business(ref, registry, when)
    return found if isinstance(found, ItemError) else business_view(found)


@pytest.mark.parametrize("ref", REFS, ids=lambda ref: f"{ref.number}|{ref.phone_number_id}")
def test_views_match_the_rules_at_every_time(registry: Registry, ref: BusinessRef) -> None:
    businesses = Businesses(changed(registry))
    businesses.sync()
    for when in TIMES * 2:  # twice: the cached answer is the same as the first
        assert businesses.resolve(ref, when) == expected(ref, registry, when), when


def test_a_registry_change_is_seen_from_the_next_sync(registry: Registry) -> None:
    businesses = Businesses(registry)
    businesses.sync()
    ref = REFS[3]  # unknown until `changed`
    before = businesses.resolve(ref, 2**40)
    assert not isinstance(before, ItemError)
    assert (before.scope, before.enabled) == ("+15551230009", False)
    changed(registry)
    businesses.sync()
    after = businesses.resolve(ref, 2**40)
    assert not isinstance(after, ItemError)
    assert (after.scope, after.enabled) == ("initech", True)
    assert businesses.resolve(ref, 0) == before  # gated as unknown before it was registered


def test_one_view_object_per_state_whoever_asks(registry: Registry) -> None:
    """Customer views are cached by business view identity: equal views are the same object."""
    first, second = Businesses(registry), Businesses(Registry())
    for businesses in (first, second):
        businesses.sync()
    for ref in (REFS[3], REFS[4]):
        assert first.resolve(ref, 0) is second.resolve(ref, 0)
