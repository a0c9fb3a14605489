"""The event published from a cached customer view is byte for byte the contract's Struct
(`build_event` + `route_event`), for every class, gate and shape of identifiers."""

from __future__ import annotations

from typing import Any

import pytest

from processor.core.appearance import Appearance, BusinessRef
from processor.core.business import Businesses
from processor.core.classify import Classified, classify
from processor.core.gate import ResolvedBusiness, resolve_business
from processor.core.normalize import build_event
from processor.core.records import ItemError
from processor.core.registry import Registry
from processor.core.route import route_event, route_view
from processor.core.view import view_of
from schemas.identity import Source

BSUID = "US.7301846620193748112"
LEGACY = "BR." + "a1" * 70  # a body over today's 128 characters
ENABLED = BusinessRef(format="meta", number="15551230001", phone_number_id="200000000000001")
DISABLED = BusinessRef(format="connectly", number="+15551230002")
UNKNOWN = BusinessRef(format="vonage", number="15551230009")

CUSTOMERS: list[dict[str, Any]] = [
    {"bsuid": BSUID},
    {"phone": "14155550123"},
    {"phone": "+44 7700 900123", "name": 'Zoë "Z" O\'Brien', "username": "zoe"},
    {"bsuid": BSUID, "phone": "4915112345678", "phone_attested": True},
    {"bsuid": BSUID, "parent_bsuid": "US.ENT.11815799212886844830", "name": "\u0627\u0644\u0639"},
    {"bsuid": "GB.4402938475610293847", "previous_bsuid": BSUID},
    {"bsuid": LEGACY, "username": "legacy"},
    {"phone": "12425550123"},  # +1 242: the Bahamas, found by the region search
]


def appearance(business: BusinessRef, **customer: Any) -> Appearance:
    return Appearance(
        event_type="inbound_message",
        business=business,
        natural_key=("message", 'wamid.X\u00e9"', business.phone_number_id),
        timestamp="1782000000",
        message_id='wamid.X\u00e9"',
        message_status="received",
        **customer,
    )


@pytest.mark.parametrize("business", [ENABLED, DISABLED, UNKNOWN], ids=["on", "off", "unknown"])
@pytest.mark.parametrize("customer", CUSTOMERS, ids=range(len(CUSTOMERS)))
def test_view_events_equal_whole_struct_events(
    registry: Registry, business: BusinessRef, customer: dict[str, Any]
) -> None:
    app = appearance(business, **customer)
    source = Source(format=business.format, topic="t\u00fc", partition=3, offset=2**40)
    found = classify(app, 0)
    assert isinstance(found, Classified)
    resolved = resolve_business(app.business, registry, found.occurred_at)
    assert isinstance(resolved, ResolvedBusiness)
    whole = route_event(
        build_event(app, found, resolved, source), legacy_length=found.legacy_length
    )
    businesses = Businesses(registry)
    businesses.sync()
    view_business = businesses.resolve(app.business, found.occurred_at)
    assert not isinstance(view_business, ItemError)
    for _ in range(2):  # built, then found in the cache
        view = view_of(
            view_business,
            app.bsuid,
            app.parent_bsuid,
            app.phone,
            app.previous_bsuid,
            app.name,
            app.username,
            app.phone_attested,
        )
        assert view is not None
        assert route_view(view, app, found.occurred_at, source) == whole


@pytest.mark.parametrize(
    "customer",
    [{}, {"bsuid": "US.x-y"}, {"phone": "12"}, {"bsuid": BSUID, "parent_bsuid": BSUID}],
)
def test_no_view_for_malformed_or_missing_identifiers(
    registry: Registry, customer: dict[str, Any]
) -> None:
    businesses = Businesses(registry)
    businesses.sync()
    view_business = businesses.resolve(ENABLED, 0)
    assert not isinstance(view_business, ItemError)
    args = {"bsuid": "", "parent_bsuid": "", "phone": "", "previous_bsuid": ""} | customer
    view = view_of(
        view_business,
        args["bsuid"],
        args["parent_bsuid"],
        args["phone"],
        args["previous_bsuid"],
        None,
        "",
        False,
    )
    assert view is None
