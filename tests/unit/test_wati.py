"""WATI's BSUID-first webhooks (docs/providers.md), through the whole pipeline.

The samples (tests/fixtures/webhooks/wati_*) are checked in test_samples.py; here each rule of
the mapping on small edits of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from processor.core.pipeline import Pipeline
from processor.core.records import OutputRecord
from processor.core.registry import Registry
from processor.core.signature import SigningSecrets

Run = Callable[..., list[OutputRecord]]
Sample = Callable[[str], Any]

BOB = "CN.3301928374650192855"


def event(out: list[OutputRecord]) -> Any:
    assert [o.route for o in out] in (["identity"], ["dropped"]), [o.headers for o in out]
    return json.loads(out[0].value)


def code(out: list[OutputRecord]) -> str:
    assert [o.route for o in out] == ["dlq"]
    return dict(out[0].headers)["dlq.error.code"].decode()


@pytest.fixture
def message(sample_json: Sample) -> Any:
    return sample_json("wati_message_bsuid_with_waid")


def test_owner_tells_inbound_from_echo(message: Any, run: Run) -> None:
    inbound = event(run(message))
    assert (inbound["eventType"], inbound["message"]["status"]) == ("inbound_message", "received")
    assert inbound["customer"]["name"] == "Bob Chen"
    echo = event(run(message | {"owner": True, "type": "image"}))
    assert (echo["eventType"], echo["message"]["status"]) == ("message_echo", "image")
    # The business's message names its operator as the sender, never the customer.
    assert echo["customer"]["name"] is None
    assert echo["identity"]["bsuid"] == BOB


def test_username_loses_its_at_sign_only(message: Any, run: Run) -> None:
    assert event(run(message))["identity"]["username"] == "bob"
    assert event(run(message | {"username": "bob"}))["identity"]["username"] == "bob"
    assert event(run(message | {"username": None}))["identity"]["username"] == ""


def test_wa_id_holding_the_bsuid(message: Any, run: Run) -> None:
    same = event(run(message | {"waId": BOB}))["identity"]
    assert (same["class"], same["bsuid"], same["phone"]) == ("bsuid_only", BOB, "")
    assert code(run(message | {"waId": "CN.1"})) == "identity_conflict"
    only_wa_id = event(run(message | {"waId": BOB, "bsuid": None}))["identity"]
    assert only_wa_id["bsuid"] == BOB


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ({"bsuid": "CN.33-01"}, "invalid_bsuid"),
        ({"bsuid": "CN.ENT.3301928374650192800"}, "invalid_bsuid"),  # a parent as the child
        ({"parentBsuid": "CN.3301928374650192800"}, "invalid_bsuid"),  # a child as the parent
        ({"waId": "12345"}, "invalid_phone"),
        ({"waId": "86 187 ABC"}, "invalid_phone"),
        ({"waId": None, "bsuid": None}, "missing_identity"),
        ({"waId": "", "bsuid": ""}, "missing_identity"),
        ({"whatsappMessageId": None}, "schema_mismatch"),
        ({"owner": None}, "schema_mismatch"),
        ({"owner": "false"}, "schema_mismatch"),
        ({"timestamp": "soon"}, "schema_mismatch"),
        ({"channelPhoneNumber": None}, "schema_mismatch"),  # no business number
        ({"channelPhoneNumber": "not-a-number"}, "invalid_phone"),
    ],
)
def test_dead_letters(edit: dict[str, Any], expected: str, message: Any, run: Run) -> None:
    assert code(run(message | edit)) == expected


def test_phone_only_when_wati_sends_no_bsuid(message: Any, run: Run) -> None:
    got = event(run(message | {"bsuid": None, "parentBsuid": None}))["identity"]
    assert (got["class"], got["phone"]) == ("phone_only", "+8618719149214")


@pytest.mark.parametrize(
    "event_type",
    ["message", "sessionMessageSent", "templateMessageSent", "newContactMessageReceived_bsuid"],
)
def test_other_event_types_are_counted_and_skipped(
    event_type: str, message: Any, run: Run, pipeline: Pipeline
) -> None:
    assert run(message | {"eventType": event_type}) == []
    assert pipeline.stats.skips == {"other_wati_event": 1}
    assert pipeline.stats.formats == {"wati": 1}
    assert not pipeline.stats.dead_letters


def test_a_retry_gives_the_same_event_id(message: Any, run: Run) -> None:
    first = event(run(message, offset=1))
    # WATI's own event id, creation time and status string change on a redelivery.
    retry = message | {"id": "ffffffffffffffffffffffff", "created": "2026-06-22T00:00:00Z"}
    again = event(run(json.dumps(retry, indent=1).encode(), offset=7, partition=2))
    assert again["eventId"] == first["eventId"]
    other_number = event(run(message | {"channelPhoneNumber": "15551230002"}))
    assert other_number["eventId"] != first["eventId"]
    other_message = event(run(message | {"whatsappMessageId": "wamid.OTHER"}))
    assert other_message["eventId"] != first["eventId"]


def test_unregistered_number_is_its_own_scope(message: Any, run: Run) -> None:
    got = event(run(message | {"channelPhoneNumber": "15551230009"}))
    assert got["business"] == {
        "scope": "+15551230009",
        "number": "+15551230009",
        "phoneNumberId": "",
    }
    assert got["customer"]["userId"] == ""  # legacy view on a number that is not enabled
    out = run(message | {"channelPhoneNumber": "15551230009", "waId": None})
    assert [o.route for o in out] == ["dropped"]


def test_detected_by_shape_or_named_by_header(message: Any, run: Run) -> None:
    assert event(run(message))["source"]["format"] == "wati"
    labelled = run(message, headers=[("webhook-source", b"wati")])
    assert event(labelled)["source"]["format"] == "wati"
    # Said to be WATI without an eventType: a broken WATI body, not a skip.
    assert code(run({"hello": "world"}, headers=[("webhook-source", b"wati")])) == (
        "schema_mismatch"
    )


def test_unsigned_format_is_processed_even_with_secrets_set(
    registry: Registry, message: Any, run: Run
) -> None:
    """WATI documents no signature: no secret applies to it (docs/providers.md)."""
    secret = b"s" * 40
    pipe = Pipeline(registry=registry, secrets=SigningSecrets(meta=secret, vonage=secret))
    assert event(run(message, pipe))["source"]["format"] == "wati"
