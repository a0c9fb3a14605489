"""Connectly bodies (docs/providers.md): the customer table, conflicts, statuses, event ids."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from processor.core.records import OutputRecord

Run = Callable[..., list[OutputRecord]]
BSUID = "US.7301846620193748112"
BUSINESS = {"id": "+15551230001", "channelType": "whatsapp", "name": "acme"}


def inbound(**customer: Any) -> Any:
    return {
        "timestamp": "1782000000",
        "sender": {"channelType": "whatsapp", **customer},
        "recipient": BUSINESS,
        "message": {"text": "hi"},
    }


def status(update: dict[str, Any] | None = None, **customer: Any) -> Any:
    return {
        "topic": "delivery_status",
        "timestamp": "1782000300",
        "sender": BUSINESS,
        "recipient": {"channelType": "whatsapp", **customer},
        "statusUpdate": update if update is not None else {"id": "01J", "status": "delivered"},
    }


def event_of(out: list[OutputRecord]) -> Any:
    assert len(out) == 1
    assert out[0].route != "dlq", out[0].headers
    return json.loads(out[0].value)


def code_of(out: list[OutputRecord]) -> bytes:
    assert [o.route for o in out] == ["dlq"]
    return dict(out[0].headers)["dlq.error.code"]


@pytest.mark.parametrize(
    ("customer", "cls", "key"),
    [
        ({"id": BSUID, "userId": BSUID, "phoneNumber": ""}, "bsuid_only", f"acme/{BSUID}"),
        (
            {"id": BSUID, "userId": BSUID, "phoneNumber": "+14155550123"},
            "phone_and_bsuid",
            f"acme/{BSUID}",
        ),
        (
            {"id": "+447700900123", "userId": "", "phoneNumber": "+447700900123"},
            "phone_only",
            "acme/+447700900123",
        ),
        # Older payloads: phoneNumber "" or missing, userId null or missing.
        (
            {"id": "+447700900123", "userId": "", "phoneNumber": ""},
            "phone_only",
            "acme/+447700900123",
        ),
        ({"id": "+447700900123"}, "phone_only", "acme/+447700900123"),
        (
            {"id": "+447700900123", "userId": None, "phoneNumber": None},
            "phone_only",
            "acme/+447700900123",
        ),
        # A BSUID-shaped id without userId is still a BSUID, never a phone.
        ({"id": BSUID}, "bsuid_only", f"acme/{BSUID}"),
    ],
)
def test_customer_table(customer: dict[str, Any], cls: str, key: str, run: Run) -> None:
    event = event_of(run(inbound(**customer)))
    assert event["identity"]["class"] == cls
    assert event["identity"]["key"] == key
    assert event["source"]["format"] == "connectly"
    assert event["business"]["number"] == "+15551230001"


@pytest.mark.parametrize(
    ("customer", "code"),
    [
        ({"id": "US.1", "userId": "US.2"}, b"identity_conflict"),
        (
            {"id": "+14155550123", "userId": BSUID, "phoneNumber": "+14155550123"},
            b"identity_conflict",
        ),
        (
            {"id": "+447700900123", "userId": "", "phoneNumber": "+447700900999"},
            b"identity_conflict",
        ),
        ({"id": "US.ENT.123", "userId": "US.ENT.123"}, b"invalid_bsuid"),  # parent as child
        ({"id": "US.ENT.123"}, b"invalid_bsuid"),
        ({"id": "us.123", "userId": "us.123"}, b"invalid_bsuid"),
        ({"id": BSUID, "userId": BSUID, "phoneNumber": "not a phone"}, b"invalid_phone"),
        ({"id": "12", "userId": ""}, b"invalid_phone"),
        ({"id": "", "userId": "", "phoneNumber": ""}, b"missing_identity"),
        ({}, b"missing_identity"),
    ],
)
def test_invalid_customers(customer: dict[str, Any], code: bytes, run: Run) -> None:
    assert code_of(run(inbound(**customer))) == code


def test_conflict_names_the_customer_object(run: Run) -> None:
    out = run(inbound(id="US.1", userId="US.2"))
    assert b"$.sender" in dict(out[0].headers)["dlq.error.message"]


def test_delivery_status_customer_is_the_recipient(run: Run) -> None:
    event = event_of(run(status(id=BSUID, userId=BSUID, phoneNumber="")))
    assert event["eventType"] == "delivery_status"
    assert event["business"]["number"] == "+15551230001"
    assert event["message"] == {"id": "01J", "status": "delivered"}
    assert event["identity"]["bsuid"] == BSUID


@pytest.mark.parametrize("state", ["sent", "delivered", "read", "delivery_failed"])
def test_every_delivery_status_passes(state: str, run: Run) -> None:
    event = event_of(run(status({"id": "01J", "status": state}, id="+14155550123")))
    assert event["message"]["status"] == state


def test_status_recipient_conflict(run: Run) -> None:
    assert code_of(run(status(id="US.1", userId="US.2"))) == b"identity_conflict"


def test_status_without_status_update(run: Run) -> None:
    doc = status(id="+14155550123")
    del doc["statusUpdate"]
    assert code_of(run(doc)) == b"schema_mismatch"


def test_unknown_topic(run: Run) -> None:
    doc = inbound(id="+14155550123")
    doc["topic"] = "typing_indicator"
    assert code_of(run(doc)) == b"unknown_format"


def test_messages_topic_is_inbound(run: Run) -> None:
    doc = inbound(id="+14155550123")
    doc["topic"] = "messages"
    assert event_of(run(doc))["eventType"] == "inbound_message"


@pytest.mark.parametrize("missing", ["sender", "recipient"])
def test_both_parties_are_required(missing: str, run: Run) -> None:
    doc = inbound(id="+14155550123")
    del doc[missing]
    assert code_of(run(doc)) == b"schema_mismatch"


def test_malformed_business_number(run: Run) -> None:
    doc = inbound(id="+14155550123")
    doc["recipient"] = {"id": "acme"}
    assert code_of(run(doc)) == b"invalid_phone"


def test_inbound_event_id_is_the_body_hash(run: Run) -> None:
    doc = inbound(id=BSUID, userId=BSUID)
    first = event_of(run(json.dumps(doc).encode(), offset=1))
    retry = event_of(run(json.dumps(doc).encode(), offset=2, partition=5))
    other = event_of(run(json.dumps({**doc, "message": {"text": "bye"}}).encode()))
    assert first["eventId"] == retry["eventId"]
    assert first["eventId"] != other["eventId"]


def test_status_event_id_is_update_id_and_status(run: Run) -> None:
    def eid(update: dict[str, Any], **extra: Any) -> str:
        doc = {**status(update, id="+14155550123"), **extra}
        return str(event_of(run(doc))["eventId"])

    delivered = eid({"id": "01J", "status": "delivered"})
    assert delivered == eid({"id": "01J", "status": "delivered"}, timestamp="1782000999")
    assert delivered != eid({"id": "01J", "status": "read"})
    assert delivered != eid({"id": "01K", "status": "delivered"})
