"""Identity events (docs/schemas.md): eventId, key, customer view, reach, every field present."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from processor.core.appearance import Appearance, BusinessRef
from processor.core.bsuid import parse_child, parse_parent
from processor.core.classify import Classified
from processor.core.gate import ResolvedBusiness
from processor.core.normalize import build_event, customer_view, event_id, identity_key, reach_for
from processor.core.phone import normalize_phone
from schemas.identity import Customer, Source

BSUID = "US.7301846620193748112"


def classified(bsuid: str = "", phone: str = "", **extra: Any) -> Classified:
    child = parse_child(bsuid) if bsuid else None
    number = normalize_phone(phone) if phone else None
    cls = "phone_only" if child is None else "bsuid_only" if number is None else "phone_and_bsuid"
    return Classified(
        identity_class=cls,  # type: ignore[arg-type]
        bsuid=child,
        parent_bsuid=extra.get("parent"),
        previous_bsuid=extra.get("previous"),
        phone=number,
        occurred_at=1782000000,
        legacy_length=False,
    )


def test_event_id_is_deterministic_and_content_bound() -> None:
    key = ("message", "wamid.A", "200000000000001")
    assert event_id(key) == event_id(tuple(key))
    assert len(event_id(key)) == 32
    assert event_id(key) != event_id(("message", "wamid.B", "200000000000001"))
    assert event_id(("status", "wamid.A", "sent")) != event_id(("status", "wamid.A", "read"))
    # Parts are separated: moving a character across a boundary changes the id.
    assert event_id(("ab", "c")) != event_id(("a", "bc"))
    assert event_id(key) != event_id((*key, "standby"))


def test_identity_key() -> None:
    assert identity_key("acme", classified(BSUID, "14155550123")) == f"acme/{BSUID}"
    assert identity_key("acme", classified(phone="14155550123")) == "acme/+14155550123"
    assert identity_key("globex", classified(BSUID)) == f"globex/{BSUID}"


@pytest.mark.parametrize(
    ("bsuid", "phone", "enabled", "view"),
    [
        (BSUID, "", True, (BSUID, BSUID, "")),
        (BSUID, "14155550123", True, (BSUID, BSUID, "+14155550123")),
        ("", "14155550123", True, ("+14155550123", "", "+14155550123")),
        # Not enabled: the legacy view, exactly what Connectly shows for such a number.
        (BSUID, "14155550123", False, ("+14155550123", "", "+14155550123")),
        ("", "14155550123", False, ("+14155550123", "", "+14155550123")),
        (BSUID, "", False, ("", "", "")),  # only ever seen on the dropped topic
    ],
)
def test_customer_view(bsuid: str, phone: str, enabled: bool, view: tuple[str, str, str]) -> None:
    customer = customer_view(classified(bsuid, phone), "Ana", enabled)
    assert (customer.id, customer.user_id, customer.phone_number) == view
    assert customer.channel_type == "whatsapp"
    assert customer.name == "Ana"


@pytest.mark.parametrize(
    ("customer", "reach"),
    [
        (
            Customer(id=BSUID, name=None, user_id=BSUID, phone_number=""),
            (BSUID, f"bsuid:{BSUID}", False),
        ),
        (
            Customer(id=BSUID, name=None, user_id=BSUID, phone_number="+14155550123"),
            (BSUID, "+14155550123", True),
        ),
        (
            Customer(id="+14155550123", name=None, user_id="", phone_number="+14155550123"),
            ("", "+14155550123", True),
        ),
        (Customer(id="", name=None, user_id="", phone_number=""), ("", "", False)),
    ],
)
def test_reach(customer: Customer, reach: tuple[str, str, bool]) -> None:
    got = reach_for(customer)
    assert (got.session_user_id, got.template_to, got.auth_templates) == reach


CONTRACT_SHAPE = {
    "schema": None,
    "eventId": None,
    "eventType": None,
    "occurredAt": None,
    "source": {"format", "topic", "partition", "offset"},
    "business": {"scope", "number", "phoneNumberId"},
    "customer": {"id", "channelType", "name", "userId", "phoneNumber"},
    "identity": {
        "class",
        "key",
        "bsuid",
        "parentBsuid",
        "phone",
        "username",
        "country",
        "previousBsuid",
        "phoneAttested",
    },
    "gate": {"numberEnabled", "decision", "reason"},
    "message": {"id", "status"},
    "reach": {"sessionUserId", "templateTo", "authTemplates"},
}


def build(found: Classified, enabled: bool = True, **fields: Any) -> Any:
    app = Appearance(
        event_type="inbound_message",
        business=BusinessRef(format="meta", phone_number_id="200000000000001"),
        natural_key=("message", "wamid.N", "200000000000001"),
        timestamp="1782000000",
        **fields,
    )
    business = ResolvedBusiness(
        scope="acme",
        number="+15551230001",
        phone_number_id="200000000000001",
        bsuid_enabled=enabled,
    )
    source = Source(format="meta", topic="raw", partition=3, offset=9)
    return json.loads(msgspec.json.encode(build_event(app, found, business, source)))


def test_every_field_is_always_present() -> None:
    event = build(classified(phone="447700900123"))
    assert set(event) == set(CONTRACT_SHAPE)
    for name, fields in CONTRACT_SHAPE.items():
        if fields is not None:
            assert set(event[name]) == fields, name
    # Absent strings are "", absent objects null.
    assert event["identity"]["bsuid"] == ""
    assert event["identity"]["parentBsuid"] == ""
    assert event["identity"]["previousBsuid"] == ""
    assert event["identity"]["username"] == ""
    assert event["customer"]["name"] is None
    assert event["schema"] == "customer-identity/1"
    assert event["occurredAt"] == "2026-06-21T00:00:00Z"
    assert event["source"] == {"format": "meta", "topic": "raw", "partition": 3, "offset": 9}
    assert event["identity"]["country"] == "GB"


def test_country_comes_from_the_bsuid_first() -> None:
    # A German BSUID with a US phone: the BSUID's country wins.
    event = build(classified("DE.5500193846620193741", "14155550123"))
    assert event["identity"]["country"] == "DE"


def test_parent_previous_username_attestation_are_reported() -> None:
    found = classified(
        BSUID,
        "14155550123",
        parent=parse_parent("US.ENT.11815799212886844830"),
        previous=parse_child("US.1"),
    )
    event = build(found, username="ana.ruiz", phone_attested=True, name="Ana", message_id="wamid.N")
    assert event["identity"]["parentBsuid"] == "US.ENT.11815799212886844830"
    assert event["identity"]["previousBsuid"] == "US.1"
    assert event["identity"]["username"] == "ana.ruiz"
    assert event["identity"]["phoneAttested"] is True
    assert event["customer"]["name"] == "Ana"
    assert event["message"]["id"] == "wamid.N"


def test_drop_decision_and_reason() -> None:
    event = build(classified(BSUID), enabled=False)
    assert event["gate"] == {
        "numberEnabled": False,
        "decision": "drop",
        "reason": "bsuid_not_enabled",
    }
    assert event["identity"]["key"] == f"acme/{BSUID}"
