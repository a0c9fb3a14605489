"""Every sample body of tests/fixtures/webhooks with its expected outputs (see EXPECTED.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from processor.core.pipeline import Pipeline
from processor.core.records import OutputRecord
from schemas.identity import IDENTITY_EVENT_DECODER

WEBHOOKS = Path(__file__).parents[1] / "fixtures" / "webhooks"
DEAD_LETTERS = WEBHOOKS / "dead_letters"

A = {"scope": "acme", "number": "+15551230001", "phoneNumberId": "200000000000001"}
B = {"scope": "acme", "number": "+15551230002", "phoneNumberId": "200000000000002"}

ANA = "US.7301846620193748112"
BEN = "US.5518290017364528190"
JOHN = "GB.4402938475610293847"
BOB = "CN.3301928374650192855"


def customer(id_: str, user_id: str, phone: str) -> dict[str, Any]:
    return {"customer.id": id_, "customer.userId": user_id, "customer.phoneNumber": phone}


def reach(session: str, template_to: str, auth: bool) -> dict[str, Any]:
    return {
        "reach.sessionUserId": session,
        "reach.templateTo": template_to,
        "reach.authTemplates": auth,
    }


def admitted(business: dict[str, str]) -> dict[str, Any]:
    enabled = business["number"] == A["number"]
    return {
        "business": business,
        "gate": {"numberEnabled": enabled, "decision": "admit", "reason": ""},
    }


#: sample -> the outputs it must give, in order: (route, key, {dotted path in the event: value})
EXPECTED: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "meta_inbound_bsuid_only": [
        (
            "identity",
            f"acme/{ANA}",
            {
                "eventType": "inbound_message",
                "identity.class": "bsuid_only",
                "identity.bsuid": ANA,
                "identity.phone": "",
                "identity.username": "ana.ruiz",
                "identity.country": "US",
                "customer.name": "Ana Ruiz",
                **customer(ANA, ANA, ""),
                **reach(ANA, f"bsuid:{ANA}", False),
                "message": {"id": "wamid.AAA001", "status": "received"},
                "occurredAt": "2026-06-21T00:00:00Z",
                **admitted(A),
            },
        )
    ],
    "meta_inbound_phone_and_bsuid": [
        (
            "identity",
            f"acme/{BEN}",
            {
                "eventType": "inbound_message",
                "identity.class": "phone_and_bsuid",
                "identity.phone": "+14155550123",
                **customer(BEN, BEN, "+14155550123"),
                **reach(BEN, "+14155550123", True),
                "occurredAt": "2026-06-21T00:01:00Z",
                **admitted(A),
            },
        )
    ],
    "meta_inbound_phone_only_legacy": [
        (
            "identity",
            "acme/+447700900123",
            {
                "eventType": "inbound_message",
                "identity.class": "phone_only",
                "identity.bsuid": "",
                "identity.country": "GB",
                **customer("+447700900123", "", "+447700900123"),
                **reach("", "+447700900123", True),
                "occurredAt": "2025-02-19T21:20:00Z",
                **admitted(A),
            },
        )
    ],
    "meta_inbound_parent_bsuid": [
        (
            "identity",
            "acme/IN.8830019283746501928",
            {
                "identity.class": "bsuid_only",
                "identity.bsuid": "IN.8830019283746501928",
                "identity.parentBsuid": "IN.ENT.1029384756102938475",
                **customer("IN.8830019283746501928", "IN.8830019283746501928", ""),
                **admitted(A),
            },
        )
    ],
    "meta_inbound_two_messages": [
        (
            "identity",
            "acme/NG.1122334455667788990",
            {
                "identity.class": "phone_and_bsuid",
                "identity.phone": "+2348030000001",
                "customer.name": "Femi",
                **customer("+2348030000001", "", "+2348030000001"),
                **reach("", "+2348030000001", True),
                "message.id": "wamid.AAA005",
                **admitted(B),
            },
        ),
        (
            "dropped",
            "+15551230002",
            {
                "identity.class": "bsuid_only",
                "identity.key": "acme/BR.5512093847561029384",
                "customer.name": "Eve",
                "gate": {"numberEnabled": False, "decision": "drop", "reason": "bsuid_not_enabled"},
                "business": B,
                "message.id": "wamid.AAA006",
                "occurredAt": "2026-06-21T00:03:01Z",
            },
        ),
    ],
    "meta_status_delivered_to_bsuid": [
        (
            "identity",
            f"acme/{ANA}",
            {
                "eventType": "delivery_status",
                "identity.class": "bsuid_only",
                "message": {"id": "wamid.OUT001", "status": "delivered"},
                **customer(ANA, ANA, ""),
                "occurredAt": "2026-06-21T00:05:00Z",
                **admitted(A),
            },
        )
    ],
    "meta_status_failed_to_phone": [
        (
            "identity",
            "acme/+14155550123",
            {
                "eventType": "delivery_status",
                "identity.class": "phone_only",
                "message": {"id": "wamid.OUT002", "status": "failed"},
                **customer("+14155550123", "", "+14155550123"),
                **admitted(A),
            },
        )
    ],
    "meta_status_group_read": [
        (
            "identity",
            f"acme/{BEN}",
            {
                "eventType": "delivery_status",
                "identity.class": "phone_and_bsuid",
                "identity.phone": "+14155550123",
                "message": {"id": "wamid.OUT003", "status": "read"},
                **customer(BEN, BEN, "+14155550123"),
                **admitted(A),
            },
        )
    ],
    "meta_system_user_changed_user_id": [
        (
            "identity",
            "acme/US.9902837465019283746",
            {
                "eventType": "identity_change",
                "identity.class": "bsuid_only",
                "identity.bsuid": "US.9902837465019283746",
                "identity.previousBsuid": ANA,
                "identity.phone": "",
                "message": {"id": "wamid.SYS001", "status": "user_changed_user_id"},
                "occurredAt": "2026-06-21T00:08:00Z",
                **admitted(A),
            },
        )
    ],
    "meta_system_user_changed_number": [
        (
            "identity",
            "acme/US.6619203847561029384",
            {
                "eventType": "identity_change",
                "identity.class": "phone_and_bsuid",
                "identity.phone": "+14155550999",
                "identity.previousBsuid": BEN,
                **customer("US.6619203847561029384", "US.6619203847561029384", "+14155550999"),
                **admitted(A),
            },
        )
    ],
    "meta_contacts_contact_request": [
        (
            "identity",
            f"acme/{ANA}",
            {
                "eventType": "contact_shared",
                "identity.class": "phone_and_bsuid",
                "identity.phone": "+14155550177",
                "identity.phoneAttested": True,
                **reach(ANA, "+14155550177", True),
                **admitted(A),
            },
        )
    ],
    "meta_template_status_update_not_customer": [],
    "connectly_inbound_bsuid_only": [
        (
            "identity",
            f"acme/{ANA}",
            {
                "eventType": "inbound_message",
                "source.format": "connectly",
                "identity.class": "bsuid_only",
                "customer.name": None,
                **customer(ANA, ANA, ""),
                **reach(ANA, f"bsuid:{ANA}", False),
                "occurredAt": "2026-06-21T00:00:00Z",
                **admitted(A),
            },
        )
    ],
    "connectly_inbound_phone_and_bsuid": [
        (
            "identity",
            f"acme/{BEN}",
            {
                "source.format": "connectly",
                "identity.class": "phone_and_bsuid",
                "customer.name": "Ben Okafor",
                **customer(BEN, BEN, "+14155550123"),
                **reach(BEN, "+14155550123", True),
                **admitted(A),
            },
        )
    ],
    "connectly_inbound_legacy": [
        (
            "identity",
            "acme/+447700900123",
            {
                "source.format": "connectly",
                "identity.class": "phone_only",
                **customer("+447700900123", "", "+447700900123"),
                **reach("", "+447700900123", True),
                "occurredAt": "2025-02-19T21:20:00Z",
                **admitted(A),
            },
        )
    ],
    "connectly_delivery_status_bsuid": [
        (
            "identity",
            f"acme/{ANA}",
            {
                "eventType": "delivery_status",
                "source.format": "connectly",
                "identity.class": "bsuid_only",
                "customer.name": "John Snow",
                **customer(ANA, ANA, ""),
                "message": {"id": "01JD3N8Q2W5X7Y9Z0A1B2C3D4E", "status": "delivered"},
                **admitted(A),
            },
        )
    ],
    "meta_echo_to_bsuid_only": [
        (
            "identity",
            "acme/DE.5500193846620193741",
            {
                "eventType": "message_echo",
                "identity.class": "bsuid_only",
                "identity.username": "lena.k",
                "identity.phone": "",
                **customer("DE.5500193846620193741", "DE.5500193846620193741", ""),
                "message.id": "wamid.ECHO001",
                **admitted(A),
            },
        )
    ],
    "meta_call_user_initiated": [
        (
            "identity",
            "acme/IN.6601928374650192837",
            {
                "eventType": "call",
                "identity.class": "phone_and_bsuid",
                "identity.phone": "+919812345678",
                "customer.name": "Raj P",
                "message": {"id": "wacid.CALL001", "status": "connect"},
                "occurredAt": "2026-06-21T00:06:40Z",
                **admitted(A),
            },
        )
    ],
    "meta_history_thread": [
        (
            "identity",
            "acme/US.8801928374650192811",
            {
                "eventType": "history_thread",
                "identity.class": "phone_and_bsuid",
                "identity.phone": "+14155550188",
                "identity.username": "mo.h",
                "occurredAt": "2026-06-09T10:15:00Z",
                **admitted(A),
            },
        )
    ],
    "meta_contact_sync_add": [
        (
            "identity",
            "acme/ES.4401928374650192833",
            {
                "eventType": "contact_sync",
                "identity.class": "phone_and_bsuid",
                "identity.phone": "+34612345678",
                "identity.phoneAttested": False,
                "identity.username": "tvidal",
                "message.status": "add",
                "occurredAt": "2026-06-21T00:08:20Z",
                **admitted(A),
            },
        )
    ],
    "meta_user_preferences_stop": [
        (
            "dropped",
            "+15551230002",
            {
                "eventType": "preference_update",
                "identity.class": "bsuid_only",
                "identity.key": "acme/KR.3301928374650192844",
                "message.status": "stop",
                "gate": {"numberEnabled": False, "decision": "drop", "reason": "bsuid_not_enabled"},
                "business": B,
            },
        )
    ],
    "vonage_status_bsuid_phone_parent_username": [
        (
            "identity",
            f"acme/{JOHN}",
            {
                "eventType": "delivery_status",
                "source.format": "vonage",
                "identity.class": "phone_and_bsuid",
                "identity.phone": "+447700900234",
                "identity.parentBsuid": "GB.ENT.4409182736450918273",
                "identity.username": "johnsmith",
                "identity.country": "GB",
                "customer.name": "John Smith",
                **customer(JOHN, JOHN, "+447700900234"),
                **reach(JOHN, "+447700900234", True),
                "message": {"id": "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab", "status": "read"},
                "occurredAt": "2026-06-21T00:20:00Z",
                **admitted(A),
            },
        )
    ],
    "vonage_status_bsuid_only": [
        (
            "identity",
            f"acme/{ANA}",
            {
                "eventType": "delivery_status",
                "source.format": "vonage",
                "identity.class": "bsuid_only",
                "identity.phone": "",
                "identity.username": "ana.ruiz",
                **customer(ANA, ANA, ""),
                **reach(ANA, f"bsuid:{ANA}", False),
                "message.status": "delivered",
                "occurredAt": "2026-06-21T00:21:00Z",
                **admitted(A),
            },
        )
    ],
    "vonage_status_legacy_no_recipient": [
        (
            "identity",
            "acme/+447700900123",
            {
                "eventType": "delivery_status",
                "source.format": "vonage",
                "identity.class": "phone_only",
                "identity.username": "",
                "customer.name": None,
                **customer("+447700900123", "", "+447700900123"),
                "occurredAt": "2025-02-03T12:14:25Z",
                **admitted(B),
            },
        )
    ],
    "vonage_inbound_from_bsuid": [
        (
            "dropped",
            "+15551230002",
            {
                "eventType": "inbound_message",
                "source.format": "vonage",
                "identity.class": "bsuid_only",
                "identity.key": "acme/BR.5512093847561029384",
                "identity.username": "eve.s",
                "customer.name": "Eve",
                "message": {"id": "dddddddd-eeee-4fff-8aaa-0123456789ab", "status": "received"},
                "gate": {"numberEnabled": False, "decision": "drop", "reason": "bsuid_not_enabled"},
                "business": B,
            },
        )
    ],
    "vonage_inbound_from_phone": [
        (
            "identity",
            "acme/+919812345678",
            {
                "eventType": "inbound_message",
                "source.format": "vonage",
                "identity.class": "phone_only",
                "identity.country": "IN",
                "customer.name": "Raj P",
                **customer("+919812345678", "", "+919812345678"),
                "occurredAt": "2026-06-21T00:23:00Z",
                **admitted(A),
            },
        )
    ],
    "wati_message_bsuid_with_waid": [
        (
            "identity",
            f"acme/{BOB}",
            {
                "eventType": "inbound_message",
                "source.format": "wati",
                "identity.class": "phone_and_bsuid",
                "identity.phone": "+8618719149214",
                "identity.parentBsuid": "CN.ENT.3301928374650192800",
                "identity.username": "bob",
                "identity.country": "CN",
                "customer.name": "Bob Chen",
                **customer(BOB, BOB, "+8618719149214"),
                **reach(BOB, "+8618719149214", True),
                "message": {
                    "id": "wamid.HBgNODYxODcxOTE0OTIxNBUCABIYFDNCRkJFNDFCMTI1MDAwQTRCMDMwAA==",
                    "status": "received",
                },
                "occurredAt": "2026-06-21T00:25:00Z",
                **admitted(A),
            },
        )
    ],
    "wati_message_bsuid_without_waid": [
        (
            "dropped",
            "+15551230002",
            {
                "eventType": "inbound_message",
                "source.format": "wati",
                "identity.class": "bsuid_only",
                "identity.key": "acme/KR.3301928374650192844",
                "identity.username": "kim.j",
                "identity.parentBsuid": "",
                "customer.name": "Kim",
                "gate": {"numberEnabled": False, "decision": "drop", "reason": "bsuid_not_enabled"},
                "business": B,
                "occurredAt": "2026-06-21T00:26:00Z",
            },
        )
    ],
    "wati_message_echo_bsuid_only": [
        (
            "identity",
            "acme/DE.5500193846620193741",
            {
                "eventType": "message_echo",
                "source.format": "wati",
                "identity.class": "bsuid_only",
                "identity.username": "lena.k",
                "customer.name": None,  # the sender is the business's operator
                **customer("DE.5500193846620193741", "DE.5500193846620193741", ""),
                "message.status": "text",
                "occurredAt": "2026-06-21T00:27:00Z",
                **admitted(A),
            },
        )
    ],
    "wati_event_message_not_bsuid": [],
    "meta_standby_echo_to_phone": [
        (
            "identity",
            "acme/+447700900456",
            {
                "eventType": "message_echo",
                "identity.class": "phone_only",
                "identity.phone": "+447700900456",
                **customer("+447700900456", "", "+447700900456"),
                "message.id": "wamid.STBY001",
                "occurredAt": "2026-06-21T00:11:40Z",
                **admitted(A),
            },
        )
    ],
}


def dig(event: dict[str, Any], path: str) -> Any:
    value: Any = event
    for part in path.split("."):
        value = value[part]
    return value


def test_every_sample_has_an_expectation() -> None:
    assert {p.stem for p in WEBHOOKS.glob("*.json")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample(name: str, run: Callable[..., list[OutputRecord]], pipeline: Pipeline) -> None:
    out = run((WEBHOOKS / f"{name}.json").read_bytes(), offset=42)
    expected = EXPECTED[name]
    assert [(o.route, o.key) for o in out] == [(r, k.encode()) for r, k, _ in expected]
    for record, (_route, _key, fields) in zip(out, expected, strict=True):
        # Strict schema: every field of the event schema is present and typed.
        IDENTITY_EVENT_DECODER.decode(record.value)
        event = json.loads(record.value)
        assert event["schema"] == "customer-identity/1"
        assert event["source"]["offset"] == 42
        for path, value in fields.items():
            assert dig(event, path) == value, path
        # The event's identity key is the record key on the identity route.
        if record.route == "identity":
            assert event["identity"]["key"] == record.key.decode()  # type: ignore[union-attr]
        # Legacy flag header only for over-long BSUIDs: none of the samples has one.
        assert record.headers == []
    assert not pipeline.stats.dead_letters


#: sample in dead_letters/ -> (routes of its outputs in order, the dead letter's code)
EXPECTED_DEAD: dict[str, tuple[list[str], str]] = {
    "meta_inbound_contact_conflict": (["dlq"], "identity_conflict"),
    "vonage_status_conflicting_phone": (["dlq"], "identity_conflict"),
    "vonage_status_conflicting_bsuid": (["dlq"], "identity_conflict"),
    "wati_message_conflicting_bsuid": (["dlq"], "identity_conflict"),
}


def test_every_dead_letter_sample_has_an_expectation() -> None:
    assert {p.stem for p in DEAD_LETTERS.glob("*.json")} == set(EXPECTED_DEAD)


@pytest.mark.parametrize("name", sorted(EXPECTED_DEAD))
def test_dead_letter_sample(name: str, run: Callable[..., list[OutputRecord]]) -> None:
    raw = (DEAD_LETTERS / f"{name}.json").read_bytes()
    routes, code = EXPECTED_DEAD[name]
    out = run(raw, key=b"k")
    assert [o.route for o in out] == routes
    dead = out[-1]
    assert dead.value == raw
    assert dead.key == b"k"
    assert dict(dead.headers)["dlq.error.code"] == code.encode()


def test_skipped_sample_is_counted(
    run: Callable[..., list[OutputRecord]], pipeline: Pipeline
) -> None:
    assert run((WEBHOOKS / "meta_template_status_update_not_customer.json").read_bytes()) == []
    assert pipeline.stats.skips == {"not_customer_field": 1}
    assert pipeline.stats.records == 1


def test_history_sample_is_one_event_not_one_per_message(
    run: Callable[..., list[OutputRecord]],
) -> None:
    out = run((WEBHOOKS / "meta_history_thread.json").read_bytes())
    assert len(out) == 1
    event = json.loads(out[0].value)
    # The newest of the two messages (1781000000, 1781000100), not the first one.
    assert event["occurredAt"] == "2026-06-09T10:15:00Z"
    assert event["message"]["id"] == "14155550188"
