"""Vonage Messages API webhooks, WhatsApp channel (docs/providers.md), through the whole pipeline.

The samples (tests/fixtures/webhooks/vonage_*) are checked in test_samples.py; here each rule
of the mapping on small edits of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from processor.core.pipeline import Pipeline
from processor.core.records import OutputRecord
from processor.core.registry import Registry
from processor.core.signature import VONAGE_HEADER, SigningSecrets, sign_vonage

Run = Callable[..., list[OutputRecord]]
Sample = Callable[[str], Any]

SECRET = b"vonage-signature-secret-" + b"0123456789" * 3
JOHN = "GB.4402938475610293847"
PARENT = "GB.ENT.4409182736450918273"


def event(out: list[OutputRecord]) -> Any:
    assert [o.route for o in out] in (["identity"], ["dropped"]), [o.headers for o in out]
    return json.loads(out[0].value)


def code(out: list[OutputRecord]) -> str:
    assert [o.route for o in out] == ["dlq"]
    return dict(out[0].headers)["dlq.error.code"].decode()


@pytest.fixture
def status(sample_json: Sample) -> Any:
    return sample_json("vonage_status_bsuid_phone_parent_username")


@pytest.fixture
def inbound(sample_json: Sample) -> Any:
    return sample_json("vonage_inbound_from_phone")


# --- the customer: `to` united with whatsapp.recipient ------------------------------------


def test_status_to_bsuid_gains_the_recipient_phone(status: Any, run: Run) -> None:
    status["to"] = JOHN
    got = event(run(status))["identity"]
    assert (got["class"], got["bsuid"], got["phone"]) == ("phone_and_bsuid", JOHN, "+447700900234")


def test_status_to_phone_gains_the_recipient_bsuid(status: Any, run: Run) -> None:
    del status["whatsapp"]["recipient"]["wa_id"]
    got = event(run(status))["identity"]
    assert (got["class"], got["bsuid"], got["phone"]) == ("phone_and_bsuid", JOHN, "+447700900234")


def test_status_addressed_to_the_parent_bsuid(status: Any, run: Run) -> None:
    """A business may address the parent BSUID: it is the parent, never the customer's key."""
    status["to"] = PARENT
    del status["whatsapp"]["recipient"]["wa_id"]
    got = event(run(status))["identity"]
    assert (got["bsuid"], got["parentBsuid"], got["phone"]) == (JOHN, PARENT, "")
    del status["whatsapp"]["recipient"]
    assert code(run(status)) == "missing_identity"


@pytest.mark.parametrize(
    ("field", "value"),
    [("wa_id", "447700900999"), ("user_id", "GB.999"), ("parent_user_id", "GB.ENT.999")],
)
def test_status_disagreeing_with_its_recipient_is_a_conflict(
    field: str, value: str, status: Any, run: Run
) -> None:
    if field != "wa_id":
        status["to"] = {"user_id": JOHN, "parent_user_id": PARENT}[field]
    status["whatsapp"]["recipient"][field] = value
    out = run(status)
    assert code(out) == "identity_conflict"
    assert f"whatsapp.recipient.{field}".encode() in dict(out[0].headers)["dlq.error.message"]


def test_status_business_is_from_and_the_customer_never_is(status: Any, run: Run) -> None:
    got = event(run(status))
    assert got["business"]["number"] == "+15551230001"
    assert got["identity"]["phone"] != "+15551230001"


def test_inbound_business_is_to_and_the_customer_from(inbound: Any, run: Run) -> None:
    got = event(run(inbound))
    assert got["business"]["number"] == "+15551230001"
    assert got["identity"]["phone"] == "+919812345678"
    assert got["eventType"] == "inbound_message"
    assert got["message"]["status"] == "received"


def test_inbound_ignores_a_recipient_object(inbound: Any, run: Run) -> None:
    """`whatsapp.recipient` describes whom the business wrote to: statuses only."""
    inbound["whatsapp"] = {"recipient": {"user_id": JOHN}}
    assert event(run(inbound))["identity"]["class"] == "phone_only"


# --- malformed, missing, unknown ------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ({"from": "1415ABC0123"}, "invalid_phone"),
        ({"from": "12345"}, "invalid_phone"),
        ({"from": "us.7301846620193748112"}, "invalid_bsuid"),
        ({"from": "US.ENT.11815799212886844830"}, "invalid_bsuid"),  # parent as the sender
        ({"from": ""}, "missing_identity"),
        ({"from": None}, "missing_identity"),
        ({"to": "not-a-number"}, "invalid_phone"),  # the business number
        ({"to": ""}, "schema_mismatch"),  # no business number at all
        ({"timestamp": "yesterday"}, "schema_mismatch"),
        ({"message_uuid": ""}, "schema_mismatch"),
        ({"channel": None}, "schema_mismatch"),
        ({"from": 14155550123}, "schema_mismatch"),
    ],
)
def test_inbound_dead_letters(edit: dict[str, Any], expected: str, inbound: Any, run: Run) -> None:
    assert code(run(inbound | edit)) == expected


def test_recipient_with_a_parent_where_the_child_belongs(status: Any, run: Run) -> None:
    status["whatsapp"]["recipient"]["user_id"] = PARENT
    status["to"] = "447700900234"
    assert code(run(status)) == "invalid_bsuid"


def test_other_channels_are_counted_and_skipped(inbound: Any, run: Run, pipeline: Pipeline) -> None:
    for channel in ("sms", "viber_service", "messenger"):
        assert run(inbound | {"channel": channel}) == []
    assert pipeline.stats.skips == {"not_whatsapp_channel": 3}
    assert pipeline.stats.formats == {"vonage": 3}
    assert not pipeline.stats.dead_letters


def test_unregistered_number_is_its_own_scope(inbound: Any, run: Run) -> None:
    inbound["to"] = "15551230009"
    got = event(run(inbound))
    assert got["business"] == {
        "scope": "+15551230009",
        "number": "+15551230009",
        "phoneNumberId": "",
    }
    assert got["gate"]["numberEnabled"] is False
    out = run(inbound | {"from": "BR.5512093847561029384"})
    assert [o.route for o in out] == ["dropped"]  # phone-less on a number not enabled


def test_iso_times_with_offsets_and_fractions(inbound: Any, run: Run) -> None:
    for stamp, expected in (
        ("2026-06-21T02:23:00+02:00", "2026-06-21T00:23:00Z"),
        ("2026-06-21T00:23:00.999Z", "2026-06-21T00:23:00Z"),
        ("2026-06-21T00:23:00", "2026-06-21T00:23:00Z"),  # no zone: UTC
        ("1782001380", "2026-06-21T00:23:00Z"),  # unix seconds pass too
    ):
        assert event(run(inbound | {"timestamp": stamp}))["occurredAt"] == expected, stamp
    # No time in the body: the Kafka record's, as for every format.
    got = event(run(inbound | {"timestamp": None}, timestamp_ms=1_782_001_380_000))
    assert got["occurredAt"] == "2026-06-21T00:23:00Z"


# --- eventIds: message_uuid (+ status) --------------------------------------------------------


def test_a_retry_gives_the_same_event_id(status: Any, run: Run) -> None:
    first = event(run(status, offset=1))
    # The same callback delivered again: reformatted, another price, another Kafka offset.
    retry = json.dumps(status | {"usage": {"currency": "EUR", "price": "0.01"}}, indent=2)
    again = event(run(retry.encode(), offset=99, partition=3))
    assert again["eventId"] == first["eventId"]
    other_status = event(run(status | {"status": "delivered"}))
    assert other_status["eventId"] != first["eventId"]
    other_message = event(run(status | {"message_uuid": "00000000-0000-4000-8000-000000000000"}))
    assert other_message["eventId"] != first["eventId"]


def test_inbound_and_status_ids_never_collide(status: Any, inbound: Any, run: Run) -> None:
    inbound["message_uuid"] = status["message_uuid"]
    assert event(run(inbound))["eventId"] != event(run(status))["eventId"]


# --- detection and signatures ---------------------------------------------------------------


def test_detected_by_shape_or_named_by_header(inbound: Any, run: Run, pipeline: Pipeline) -> None:
    assert event(run(inbound))["source"]["format"] == "vonage"
    labelled = run(inbound, headers=[("webhook-source", b"vonage")])
    assert event(labelled)["source"]["format"] == "vonage"
    # The header wins: a Meta body said to be Vonage is a Vonage body without `channel`.
    meta = {"object": "whatsapp_business_account", "entry": []}
    assert code(run(meta, headers=[("webhook-source", b"vonage")])) == "schema_mismatch"


def test_a_body_of_no_known_shape_is_unknown_even_when_it_breaks_vonage_types(run: Run) -> None:
    assert code(run({"from": {"email": "a@example.com"}, "subject": "hi"})) == "unknown_format"
    # With the marker, the same is a broken Vonage body.
    assert code(run({"message_uuid": "u", "from": {"email": "x"}})) == "schema_mismatch"


@pytest.fixture
def signed(registry: Registry) -> Pipeline:
    return Pipeline(registry=registry, secrets=SigningSecrets(vonage=SECRET))


def raw(doc: Any) -> bytes:
    return json.dumps(doc).encode()


@pytest.mark.parametrize("labelled", [True, False])
def test_jwt_with_the_right_secret_passes(
    labelled: bool, status: Any, signed: Pipeline, run: Run
) -> None:
    body = raw(status)
    headers = [(VONAGE_HEADER, sign_vonage(body, SECRET, issued_at=1782000000, jti="j"))]
    if labelled:
        headers.insert(0, ("webhook-source", b"vonage"))
    assert event(run(body, signed, headers=headers))["source"]["format"] == "vonage"


@pytest.mark.parametrize("labelled", [True, False])
@pytest.mark.parametrize("problem", ["wrong_secret", "tampered", "missing", "not_bearer"])
def test_bad_jwt_is_bad_signature(
    problem: str, labelled: bool, status: Any, signed: Pipeline, run: Run
) -> None:
    body = raw(status)
    header = {
        "wrong_secret": sign_vonage(body, b"another-secret-" + b"9876543210" * 3),
        "tampered": sign_vonage(body, SECRET),
        "missing": None,
        "not_bearer": sign_vonage(body, SECRET).replace(b"Bearer", b"Basic"),
    }[problem]
    if problem == "tampered":
        body = raw(status | {"status": "failed"})  # signed for another body
    headers = [(VONAGE_HEADER, header)] if header is not None else []
    if labelled:
        headers.insert(0, ("webhook-source", b"vonage"))
    out = run(body, signed, headers=headers)
    assert code(out) == "bad_signature"
    assert out[0].value == body
    assert not signed.stats.events


def test_labelled_records_are_verified_before_being_read(signed: Pipeline, run: Run) -> None:
    out = run(b"{not even json", signed, headers=[("webhook-source", b"vonage")])
    assert code(out) == "bad_signature"


def test_without_a_secret_nothing_is_verified(status: Any, run: Run) -> None:
    assert event(run(status, headers=[(VONAGE_HEADER, b"Bearer garbage")]))
