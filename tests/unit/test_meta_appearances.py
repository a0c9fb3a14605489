"""Meta Cloud API bodies -> customer appearances (docs/providers.md), checked end to end."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from processor.core.meta_appearances import Skipped, meta_appearances
from processor.core.pipeline import Pipeline
from processor.core.records import ItemError, OutputRecord
from processor.core.registry import Registry
from schemas.webhook import ENVELOPE_DECODER

Run = Callable[..., list[OutputRecord]]

A_META = {"display_phone_number": "15551230001", "phone_number_id": "200000000000001"}
B_META = {"display_phone_number": "15551230002", "phone_number_id": "200000000000002"}
ANA = "US.7301846620193748112"
BEN = "US.5518290017364528190"


def body(*changes: tuple[str, dict[str, Any]], waba: str = "300000000000001") -> Any:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {"id": waba, "changes": [{"field": field, "value": value} for field, value in changes]}
        ],
    }


def value(meta: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "metadata": meta or A_META, **fields}


def events(out: list[OutputRecord]) -> list[Any]:
    assert all(o.route != "dlq" for o in out), [o.headers for o in out]
    return [json.loads(o.value) for o in out]


def dlq(out: list[OutputRecord]) -> dict[str, bytes]:
    dead = [o for o in out if o.route == "dlq"]
    assert len(dead) == 1, out
    return dict(dead[0].headers)


# --- inbound messages and contacts -----------------------------------------------------------


def test_contact_is_matched_by_identifier_not_index(run: Run) -> None:
    contacts = [
        {"profile": {"name": "Zed", "username": "zed"}, "user_id": "GB.1"},
        {"profile": {"name": "Yan"}, "wa_id": "447700900123"},
        {
            "profile": {"name": "Xi", "username": "xi"},
            "user_id": "GB.3",
            "parent_user_id": "GB.ENT.9",
        },
    ]
    messages = [
        {"from": "447700900123", "id": "w1", "timestamp": "1782000000", "type": "text"},
        {"from_user_id": "GB.3", "id": "w2", "timestamp": "1782000000", "type": "text"},
        {"from_user_id": "GB.1", "id": "w3", "timestamp": "1782000000", "type": "text"},
        {"from_user_id": "GB.4", "id": "w4", "timestamp": "1782000000", "type": "text"},
    ]
    got = events(run(body(("messages", value(contacts=contacts, messages=messages)))))
    assert [(e["customer"]["name"], e["identity"]["username"]) for e in got] == [
        ("Yan", ""),
        ("Xi", "xi"),
        ("Zed", "zed"),
        (None, ""),  # no matching contact: no profile, never the contact at the same index
    ]
    # The parent BSUID may come from the matched contact.
    assert got[1]["identity"]["parentBsuid"] == "GB.ENT.9"


def test_fan_out_over_entries_changes_and_items_in_body_order(run: Run) -> None:
    msg = {"timestamp": "1782000000", "type": "text"}
    doc = body(
        ("messages", value(messages=[{**msg, "id": "w1", "from": "14155550001"}])),
        ("messages", value(B_META, messages=[{**msg, "id": "w2", "from": "14155550002"}])),
    )
    doc["entry"].append(
        {
            "id": "300000000000001",
            "changes": [
                {
                    "field": "messages",
                    "value": value(
                        messages=[
                            {**msg, "id": "w3", "from": "14155550003"},
                            {**msg, "id": "w4", "from_user_id": ANA},
                        ],
                        statuses=[
                            {
                                "id": "s1",
                                "status": "sent",
                                "timestamp": "1",
                                "recipient_id": "14155550004",
                            }
                        ],
                    ),
                }
            ],
        }
    )
    got = events(run(doc))
    assert [e["message"]["id"] for e in got] == ["w1", "w2", "w3", "w4", "s1"]
    assert [e["business"]["number"] for e in got] == ["+15551230001", "+15551230002"] + [
        "+15551230001"
    ] * 3


@pytest.mark.parametrize("origin", ["contact_request", "request_contact_info"])
def test_requested_contact_attests_the_phone(origin: str, run: Run) -> None:
    card = {"origin": origin, "phones": [{"phone": "+44 7700 900777", "type": "CELL"}]}
    msg = {"from_user_id": ANA, "id": "w", "timestamp": "1782000000", "type": "contacts"}
    (event,) = events(run(body(("messages", value(messages=[{**msg, "contacts": [card]}])))))
    assert event["eventType"] == "contact_shared"
    assert event["identity"]["phone"] == "+447700900777"
    assert event["identity"]["phoneAttested"] is True
    assert event["identity"]["class"] == "phone_and_bsuid"


def test_someone_elses_card_is_no_proof(run: Run) -> None:
    card = {"origin": "other", "phones": [{"phone": "+1 415 555 0177", "wa_id": "14155550177"}]}
    msg = {"from_user_id": ANA, "id": "w", "timestamp": "1782000000", "type": "contacts"}
    (event,) = events(run(body(("messages", value(messages=[{**msg, "contacts": [card]}])))))
    assert event["eventType"] == "inbound_message"
    assert event["identity"]["phone"] == ""
    assert event["identity"]["phoneAttested"] is False
    assert event["identity"]["class"] == "bsuid_only"


def test_card_without_origin_is_no_proof_either(run: Run) -> None:
    card = {"phones": [{"wa_id": "14155550177"}]}
    msg = {"from_user_id": ANA, "id": "w", "timestamp": "1782000000", "type": "contacts"}
    (event,) = events(run(body(("messages", value(messages=[{**msg, "contacts": [card]}])))))
    assert event["identity"]["phoneAttested"] is False
    assert event["identity"]["phone"] == ""


# --- statuses -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "parent_field", ["recipient_parent_user_id", "parent_recipient_user_id", "parent_user_id"]
)
def test_status_parent_bsuid_under_every_name(parent_field: str, run: Run) -> None:
    status = {
        "id": "wamid.S",
        "status": "sent",
        "timestamp": "1782000000",
        "recipient_user_id": ANA,
        parent_field: "US.ENT.42",
    }
    (event,) = events(run(body(("messages", value(statuses=[status])))))
    assert event["identity"]["parentBsuid"] == "US.ENT.42"
    assert event["identity"]["key"] == f"acme/{ANA}"


def test_group_status_without_participant_is_missing_identity(run: Run) -> None:
    status = {
        "id": "wamid.G",
        "status": "read",
        "timestamp": "1782000000",
        "recipient_id": "120363000000000001",
        "recipient_type": "group",
    }
    out = run(body(("messages", value(statuses=[status]))))
    headers = dlq(out)
    assert headers["dlq.error.code"] == b"missing_identity"
    assert b"statuses[0]" in headers["dlq.error.message"]


def test_group_participant_bsuid_only(run: Run) -> None:
    status = {
        "id": "wamid.G",
        "status": "read",
        "timestamp": "1782000000",
        "recipient_id": "120363000000000001",
        "recipient_type": "group",
        "recipient_participant_user_id": BEN,
    }
    (event,) = events(run(body(("messages", value(statuses=[status])))))
    assert event["identity"]["class"] == "bsuid_only"
    assert event["identity"]["phone"] == ""


# --- echoes, calls ----------------------------------------------------------------------------


def test_echo_customer_is_to_never_from(run: Run) -> None:
    echo = {"from": "15551230001", "to": "447700900123", "id": "wamid.E", "timestamp": "1782000000"}
    (event,) = events(
        run(body(("smb_message_echoes", value(message_echoes=[{**echo, "type": "text"}]))))
    )
    assert event["eventType"] == "message_echo"
    assert event["identity"]["phone"] == "+447700900123"
    assert event["identity"]["key"] == "acme/+447700900123"


@pytest.mark.parametrize("kind", ["revoke", "edit"])
def test_echo_revoke_and_edit_are_identity_events(kind: str, run: Run) -> None:
    echo = {
        "from": "15551230001",
        "to_user_id": ANA,
        "id": "wamid.E",
        "timestamp": "1",
        "type": kind,
    }
    (event,) = events(run(body(("smb_message_echoes", value(message_echoes=[echo])))))
    assert event["message"]["status"] == kind
    assert event["identity"]["class"] == "bsuid_only"


def test_echo_with_only_the_business_is_missing_identity(run: Run) -> None:
    echo = {"from": "15551230001", "id": "wamid.E", "timestamp": "1", "type": "text"}
    out = run(body(("smb_message_echoes", value(message_echoes=[echo]))))
    assert dlq(out)["dlq.error.code"] == b"missing_identity"


def test_business_initiated_call_customer_is_to(run: Run) -> None:
    call = {
        "id": "wacid.B",
        "from": "15551230001",
        "to": "919812345678",
        "to_user_id": "IN.66",
        "to_parent_user_id": "IN.ENT.7",
        "event": "connect",
        "timestamp": "1782000000",
        "direction": "BUSINESS_INITIATED",
    }
    (event,) = events(run(body(("calls", value(calls=[call])))))
    assert event["eventType"] == "call"
    assert event["identity"]["phone"] == "+919812345678"
    assert event["identity"]["bsuid"] == "IN.66"
    assert event["identity"]["parentBsuid"] == "IN.ENT.7"


def test_call_statuses_use_recipient_fields(run: Run) -> None:
    status = {
        "id": "wacid.S",
        "status": "RINGING",
        "timestamp": "1782000000",
        "recipient_id": "919812345678",
    }
    (event,) = events(run(body(("calls", value(statuses=[status])))))
    assert event["eventType"] == "call"
    assert event["message"] == {"id": "wacid.S", "status": "RINGING"}
    assert event["identity"]["class"] == "phone_only"


# --- history, contact sync, preferences ------------------------------------------------------


def history(*threads: dict[str, Any], chunk_order: int = 1) -> Any:
    chunk = {
        "metadata": {"phase": 0, "chunk_order": chunk_order, "progress": 50},
        "threads": list(threads),
    }
    return body(("history", value(history=[chunk])))


def test_history_one_event_per_thread(run: Run) -> None:
    doc = history(
        {"id": "14155550188", "context": {"user_id": "US.1"}, "messages": [{"timestamp": "10"}]},
        {
            "id": "447700900123",
            "messages": [{"timestamp": "5"}, {"timestamp": "30"}, {"timestamp": "20"}],
        },
        {"id": "x", "context": {"wa_id": "2348030000001", "user_id": "NG.2", "username": "n"}},
    )
    got = events(run(doc, timestamp_ms=1_782_000_000_000))
    assert [(e["identity"]["class"], e["identity"]["key"]) for e in got] == [
        ("bsuid_only", "acme/US.1"),  # context names the customer: the thread id is not a phone
        ("phone_only", "acme/+447700900123"),  # no context: the thread id is the phone
        ("phone_and_bsuid", "acme/NG.2"),
    ]
    assert [e["occurredAt"] for e in got] == [
        "1970-01-01T00:00:10Z",
        "1970-01-01T00:00:30Z",  # the newest message, not the last one
        "2026-06-21T00:00:00Z",  # no messages: the record's own time
    ]
    assert {e["eventType"] for e in got} == {"history_thread"}


def test_history_message_sender_is_no_evidence(run: Run) -> None:
    thread = {
        "id": "14155550188",
        "context": {"wa_id": "14155550188"},
        "messages": [{"from": "15551230001", "from_user_id": "US.999", "timestamp": "10"}],
    }
    (event,) = events(run(history(thread)))
    assert event["identity"]["class"] == "phone_only"
    assert event["identity"]["bsuid"] == ""


def test_history_messages_without_time_do_not_make_it_1970(run: Run) -> None:
    thread = {"id": "14155550188", "messages": [{"id": "a"}, {"timestamp": "oops"}]}
    (event,) = events(run(history(thread), timestamp_ms=1_782_000_000_000))
    assert event["occurredAt"] == "2026-06-21T00:00:00Z"


def test_history_bad_thread_is_dead_lettered_and_named(run: Run) -> None:
    doc = history(
        {"id": "14155550188"},
        {"id": "nope", "context": {"user_id": "us.lower"}},
        {"id": "447700900123"},
    )
    out = run(doc)
    assert [o.route for o in out] == ["identity", "identity", "dlq"]
    headers = dlq(out)
    assert headers["dlq.error.code"] == b"invalid_bsuid"
    assert b"$.entry[0].changes[0].value.history[0].threads[1]" in headers["dlq.error.message"]


def test_history_chunks_give_different_event_ids(run: Run) -> None:
    thread = {"id": "14155550188", "messages": [{"timestamp": "10"}]}
    (one,) = events(run(history(thread, chunk_order=1)))
    (two,) = events(run(history(thread, chunk_order=2)))
    (again,) = events(run(history(thread, chunk_order=1), offset=99))
    assert one["eventId"] != two["eventId"]
    assert one["eventId"] == again["eventId"]


def test_state_sync_only_contacts_and_never_attested(run: Run) -> None:
    items = [
        {"type": "conversation", "action": "add"},
        {
            "type": "contact",
            "contact": {"phone_number": "34612345678", "full_name": "Tomas"},
            "action": "remove",
            "metadata": {"timestamp": "1782000500"},
        },
    ]
    (event,) = events(run(body(("smb_app_state_sync", value(state_sync=items)))))
    assert event["eventType"] == "contact_sync"
    assert event["message"]["status"] == "remove"
    assert event["identity"]["class"] == "phone_only"
    assert event["identity"]["phoneAttested"] is False
    assert event["customer"]["name"] == "Tomas"


def test_preference_resume_with_phone_passes_on_b(run: Run) -> None:
    pref = {
        "wa_id": "821012345678",
        "category": "marketing_messages",
        "value": "resume",
        "timestamp": "1",
    }
    out = run(body(("user_preferences", value(B_META, user_preferences=[pref]))))
    (event,) = events(out)
    assert out[0].route == "identity"
    assert event["eventType"] == "preference_update"
    assert event["message"]["status"] == "resume"
    assert event["customer"]["id"] == "+821012345678"


# --- identity changes ---------------------------------------------------------------------------


def system(system_: dict[str, Any], **msg: Any) -> Any:
    message = {
        "id": "wamid.SYS",
        "timestamp": "1782000000",
        "type": "system",
        "system": system_,
        **msg,
    }
    return body(("messages", value(messages=[message])))


def test_user_changed_user_id_older_shape_reads_the_body(run: Run) -> None:
    doc = system({"type": "user_changed_user_id", "body": f"User Ana changed from {ANA} to US.99"})
    (event,) = events(run(doc))
    assert event["eventType"] == "identity_change"
    assert event["identity"]["bsuid"] == "US.99"
    assert event["identity"]["previousBsuid"] == ANA
    assert event["identity"]["phone"] == ""


def test_user_changed_user_id_fields_win_over_the_body(run: Run) -> None:
    doc = system(
        {
            "type": "user_changed_user_id",
            "body": "User Ana changed from US.1 to US.2",
            "user_id": "US.20",
            "previous_user_id": "US.10",
            "parent_user_id": "US.ENT.5",
        }
    )
    (event,) = events(run(doc))
    assert (event["identity"]["bsuid"], event["identity"]["previousBsuid"]) == ("US.20", "US.10")
    assert event["identity"]["parentBsuid"] == "US.ENT.5"


def test_user_changed_number_older_shape_takes_the_new_phone(run: Run) -> None:
    doc = system(
        {"type": "user_changed_number", "body": "User Ben changed from 14155550123 to 14155550999"},
        **{"from": "14155550123"},
    )
    (event,) = events(run(doc))
    assert event["identity"]["class"] == "phone_only"
    assert event["identity"]["phone"] == "+14155550999"
    assert event["identity"]["previousBsuid"] == ""


def test_user_changed_number_with_new_wa_id(run: Run) -> None:
    doc = system({"type": "user_changed_number", "new_wa_id": "14155550998", "user_id": BEN})
    (event,) = events(run(doc))
    assert event["identity"]["phone"] == "+14155550998"
    assert event["identity"]["bsuid"] == BEN


def test_malformed_previous_bsuid_is_invalid(run: Run) -> None:
    doc = system(
        {"type": "user_changed_user_id", "user_id": "US.2", "previous_user_id": "US.ENT.1"}
    )
    assert dlq(run(doc))["dlq.error.code"] == b"invalid_bsuid"


def test_retired_user_id_update_field(run: Run) -> None:
    update = {
        "wa_id": "14155550123",
        "user_id": {"previous": "US.1", "current": "US.2"},
        "timestamp": "1782000000",
    }
    (event,) = events(run(body(("user_id_update", value(user_id_update=[update])))))
    assert event["eventType"] == "identity_change"
    assert event["identity"]["bsuid"] == "US.2"
    assert event["identity"]["previousBsuid"] == "US.1"
    assert event["identity"]["phone"] == "+14155550123"
    assert event["message"]["status"] == "user_id_update"


# --- standby ------------------------------------------------------------------------------------


def test_standby_messages_and_statuses(run: Run) -> None:
    standby = {
        "contacts": [{"profile": {"name": "Ana"}, "user_id": ANA}],
        "messages": [{"from_user_id": ANA, "id": "w", "timestamp": "1", "type": "text"}],
        "statuses": [
            {"id": "s", "status": "read", "timestamp": "2", "recipient_id": "14155550123"}
        ],
    }
    got = events(run(body(("standby", value(standby=standby)))))
    assert [(e["eventType"], e["customer"]["name"]) for e in got] == [
        ("inbound_message", "Ana"),
        ("delivery_status", None),
    ]


def test_standby_echo_recipient_may_be_a_bsuid(run: Run) -> None:
    echo = {"id": "wamid.SB", "timestamp": "1", "message": {"recipient": ANA, "type": "text"}}
    (event,) = events(run(body(("standby", value(standby={"message_echoes": [echo]})))))
    assert event["identity"]["class"] == "bsuid_only"
    assert event["message"]["status"] == "text"


def test_standby_is_ignored_when_not_wanted(
    registry: Registry, run: Run, sample: Callable[[str], bytes]
) -> None:
    pipe = Pipeline(registry=registry, include_standby=False)
    assert run(sample("meta_standby_echo_to_phone"), pipe) == []
    assert pipe.stats.skips == {"standby_ignored": 1}


# --- what is not a customer ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    [
        "message_template_status_update",
        "account_update",
        "business_username_update",
        "phone_number_quality_update",
        "message_handovers",
        "",
    ],
)
def test_non_customer_fields_are_skipped_unread(field: str, pipeline: Pipeline, run: Run) -> None:
    # The value is not even valid for a customer field: it is never decoded.
    assert run(body((field, {"metadata": "not an object", "messages": 5}))) == []
    assert pipeline.stats.skips == {"not_customer_field": 1}
    assert not pipeline.stats.dead_letters


def test_skipped_change_beside_a_customer_change(pipeline: Pipeline, run: Run) -> None:
    msg = {"from": "14155550123", "id": "w", "timestamp": "1", "type": "text"}
    out = run(body(("account_update", {}), ("messages", value(messages=[msg]))))
    assert [o.route for o in out] == ["identity"]
    assert pipeline.stats.skipped_changes == {"not_customer_field": 1}
    assert not pipeline.stats.skips


def test_customer_field_without_customers_is_a_counted_skip(pipeline: Pipeline, run: Run) -> None:
    out = run(body(("messages", value(errors=[{"code": 131000}]))))
    assert out == []
    assert pipeline.stats.skips == {"no_customer_appearance": 1}


@pytest.mark.parametrize("bad_value", [[1, 2], "text", 5, None])
def test_customer_change_with_a_bad_value(bad_value: Any, run: Run) -> None:
    doc = body(("messages", bad_value))
    headers = dlq(run(doc))
    assert headers["dlq.error.code"] == b"schema_mismatch"
    assert b"$.entry[0].changes[0].value" in headers["dlq.error.message"]


def test_customer_change_without_value(run: Run) -> None:
    doc = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages"}]}],
    }
    assert dlq(run(doc))["dlq.error.code"] == b"schema_mismatch"


def test_invalid_utf8_inside_a_change_is_invalid_json(run: Run) -> None:
    good = json.dumps(value(messages=[{"from": "14155550123", "id": "w", "timestamp": "1"}]))
    raw = (
        b'{"object":"whatsapp_business_account","entry":[{"id":"1","changes":['
        b'{"field":"messages","value":{"metadata":{"phone_number_id":"\xff"}}},'
        b'{"field":"messages","value":' + good.encode() + b"}]}]}"
    )
    out = run(raw)
    assert [o.route for o in out] == ["identity", "dlq"]
    assert dlq(out)["dlq.error.code"] == b"invalid_json"


def test_missing_metadata_falls_back_to_the_waba_scope(run: Run) -> None:
    msg = {"from": "14155550123", "id": "w", "timestamp": "1", "type": "text"}
    doc = body(("messages", {"messages": [msg]}), waba="300000000000077")
    (event,) = events(run(doc))
    assert event["identity"]["key"] == "300000000000077/+14155550123"
    assert event["gate"]["numberEnabled"] is False


def test_malformed_business_number_is_invalid_phone(run: Run) -> None:
    msg = {"from": "14155550123", "id": "w", "timestamp": "1", "type": "text"}
    doc = body(
        (
            "messages",
            value({"display_phone_number": "acme", "phone_number_id": "1"}, messages=[msg]),
        )
    )
    assert dlq(run(doc))["dlq.error.code"] == b"invalid_phone"


def test_appearances_are_lazy_and_paths_are_exact() -> None:
    envelope = ENVELOPE_DECODER.decode(
        json.dumps(
            body(
                ("account_update", {}),
                ("messages", value(messages=[{"from": "x", "id": "w", "timestamp": "1"}])),
            )
        )
    )
    items = meta_appearances(envelope.entry or [], include_standby=True)
    assert next(items) == Skipped("not_customer_field")
    second = next(items)
    assert not isinstance(second, (Skipped, ItemError))
    assert str(second.path) == "$.entry[0].changes[1].value.messages[0]"
    assert second.phone == "x"  # raw: validation happens in classify
    assert next(items, None) is None


def test_nesting_only_the_change_decoder_trips_on_is_invalid_json() -> None:
    def raw(depth: int) -> bytes:
        nested = "[" * depth + "]" * depth
        return json.dumps(body(("messages", {"x": "@"}))).replace('"@"', nested).encode()

    def envelope_decodes(depth: int) -> bool:
        try:
            ENVELOPE_DECODER.decode(raw(depth))
        except RecursionError:
            return False
        return True

    # The deepest nesting the envelope still skips from this stack depth...
    depth = max(d for d in range(1, 5000, 7) if envelope_decodes(d))
    entries = ENVELOPE_DECODER.decode(raw(depth)).entry or []

    def deeper(frames: int) -> list[Any]:
        if frames:
            return deeper(frames - 1)
        return list(meta_appearances(entries, include_standby=True))

    # ... is too deep for the change's own decode a hundred frames further down (as inside a
    # worker): a dead-letter item, never an escaping RecursionError.
    (found,) = deeper(100)
    assert isinstance(found, ItemError)
    assert found.code == "invalid_json"
