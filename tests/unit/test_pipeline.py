"""The whole pure pipeline: fan-out, partial failure, dead letters, eventId stability, stats,
and a big history chunk streamed through `emit`."""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from processor.core.pipeline import Pipeline
from processor.core.records import InputRecord, OutputRecord
from processor.core.registry import Registry
from processor.core.signature import SigningSecrets
from processor.core.stats import PipelineStats
from tests.property.checks import CONTRACT_CODES

Run = Callable[..., list[OutputRecord]]
Sample = Callable[[str], Any]


def event_ids(out: list[OutputRecord]) -> list[str]:
    return [json.loads(o.value)["eventId"] for o in out if o.route != "dlq"]


def dlqs(out: list[OutputRecord]) -> list[dict[str, bytes]]:
    return [dict(o.headers) for o in out if o.route == "dlq"]


# --- partial failure ----------------------------------------------------------------------------


def test_valid_items_publish_and_the_body_is_dead_lettered_once(
    run: Run, sample_json: Sample, pipeline: Pipeline
) -> None:
    doc = sample_json("meta_inbound_two_messages")
    doc["entry"][0]["changes"][0]["value"]["messages"][1]["from_user_id"] = "BR.ENT.55"
    raw = json.dumps(doc).encode()
    headers = [("webhook-source", b"meta"), ("received-at", b"2026-06-21T00:03:02Z")]
    out = run(raw, key=b"wh-1", headers=headers, partition=2, offset=77)
    assert [o.route for o in out] == ["identity", "dlq"]
    assert json.loads(out[0].value)["message"]["id"] == "wamid.AAA005"
    dead = out[1]
    assert dead.key == b"wh-1"
    assert dead.value == raw  # the whole original body, bytes unchanged
    assert dead.headers[:2] == headers
    extra = dict(dead.headers[2:])
    assert extra == {
        "dlq.error.code": b"invalid_bsuid",
        "dlq.error.message": extra["dlq.error.message"],
        "dlq.source.topic": b"whatsapp.webhooks.raw",
        "dlq.source.partition": b"2",
        "dlq.source.offset": b"77",
    }
    assert b"$.entry[0].changes[0].value.messages[1]" in extra["dlq.error.message"]
    assert b"messages[0]" not in extra["dlq.error.message"]
    assert pipeline.stats.dead_letters == {"invalid_bsuid": 1}
    assert pipeline.stats.by_route() == {"identity": 1, "dlq": 1}


def test_several_failed_items_still_give_one_dead_letter(run: Run, sample_json: Sample) -> None:
    doc = sample_json("meta_inbound_two_messages")
    messages = doc["entry"][0]["changes"][0]["value"]["messages"]
    messages[0]["from"] = "not-a-phone"
    messages[1]["from_user_id"] = "br.lower"
    messages.append({"from": "447700900123", "id": "wamid.OK", "timestamp": "1782000182"})
    out = run(doc)
    assert [o.route for o in out] == ["identity", "dlq"]
    (headers,) = dlqs(out)
    assert headers["dlq.error.code"] == b"invalid_phone"  # the first failure names the code
    assert b"messages[0]" in headers["dlq.error.message"]
    assert b"1 more failed item" in headers["dlq.error.message"]


def test_body_where_every_item_fails_is_exactly_one_dead_letter(
    run: Run, pipeline: Pipeline
) -> None:
    doc = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {"field": "messages", "value": [1]},
                    {"field": "messages", "value": {"messages": [{"id": "w", "timestamp": "1"}]}},
                ],
            }
        ],
    }
    out = run(doc)
    assert [o.route for o in out] == ["dlq"]
    assert dlqs(out)[0]["dlq.error.code"] == b"schema_mismatch"
    assert not pipeline.stats.skips


# --- every dead-letter code of docs/dlq.md the pure core produces --------------------------------

BSUID = "US.7301846620193748112"


def connectly(**customer: Any) -> bytes:
    return json.dumps(
        {"timestamp": "1", "sender": customer, "recipient": {"id": "+15551230001"}}
    ).encode()


CODE_EXAMPLES: dict[str, tuple[bytes, dict[str, Any]]] = {
    "invalid_json": (b'{"object": ', {}),
    "unknown_format": (b'{"hello": "world"}', {}),
    "schema_mismatch": (b'{"object": "whatsapp_business_account"}', {}),
    "invalid_bsuid": (connectly(id="US.ENT.1", userId="US.ENT.1"), {}),
    "invalid_phone": (connectly(id="+1-800-FLOWERS"), {}),
    "identity_conflict": (connectly(id="US.1", userId=BSUID), {}),
    "missing_identity": (connectly(name="nobody"), {}),
    "bad_signature": (connectly(id=BSUID), {"signed": True}),
    "too_large": (b" " * (3 * 1024 * 1024 + 1), {}),
}


def test_code_examples_cover_the_contract() -> None:
    assert set(CODE_EXAMPLES) == CONTRACT_CODES


@pytest.mark.parametrize("code", sorted(CODE_EXAMPLES))
def test_dead_letter_codes(code: str, registry: Registry, run: Run) -> None:
    raw, opts = CODE_EXAMPLES[code]
    secrets = SigningSecrets(connectly=b"s") if opts.get("signed") else SigningSecrets()
    pipe = Pipeline(registry=registry, secrets=secrets)
    out = run(raw, pipe, key=b"k", headers=[("x-trace", b"1")], partition=1, offset=5)
    assert len(out) == 1
    (dead,) = out
    assert dead.route == "dlq"
    assert dead.key == b"k"
    assert dead.value == raw
    headers = dict(dead.headers)
    assert headers["x-trace"] == b"1"
    assert headers["dlq.error.code"] == code.encode()
    assert headers["dlq.error.message"]
    assert (headers["dlq.source.partition"], headers["dlq.source.offset"]) == (b"1", b"5")
    assert pipe.stats.dead_letters == {code: 1}


# --- BSUID length flag --------------------------------------------------------------------------


def test_legacy_length_bsuid_is_accepted_and_flagged(run: Run, pipeline: Pipeline) -> None:
    long_bsuid = "US." + "Ab1" * 80  # 240-character body
    out = run(connectly(id=long_bsuid, userId=long_bsuid))
    assert [o.route for o in out] == ["identity"]
    assert out[0].headers == [("identity-flags", b"legacy_bsuid_length")]
    assert out[0].key == f"acme/{long_bsuid}".encode()  # kept whole, case kept
    assert pipeline.stats.legacy_bsuids == 1
    today = "US." + "Ab1" * 42 + "xy"  # exactly 128
    out = run(connectly(id=today, userId=today))
    assert out[0].headers == []


def test_legacy_parent_is_flagged_too(run: Run, sample_json: Sample) -> None:
    doc = sample_json("meta_inbound_parent_bsuid")
    value = doc["entry"][0]["changes"][0]["value"]
    # The contact repeats the parent: a different one there would be an identity conflict.
    value["messages"][0]["from_parent_user_id"] = "IN.ENT." + "7" * 200
    value["contacts"][0]["parent_user_id"] = "IN.ENT." + "7" * 200
    out = run(doc)
    assert out[0].headers == [("identity-flags", b"legacy_bsuid_length")]


def test_257_character_bsuid_is_rejected(run: Run) -> None:
    too_long = "US." + "7" * 257
    (headers,) = dlqs(run(connectly(id=too_long, userId=too_long)))
    assert headers["dlq.error.code"] == b"invalid_bsuid"


# --- eventId stability --------------------------------------------------------------------------


def test_event_id_ignores_kafka_coordinates(run: Run, sample: Callable[[str], bytes]) -> None:
    for name in ("meta_inbound_two_messages", "meta_status_group_read", "connectly_inbound_legacy"):
        raw = sample(name)
        first = run(raw, offset=1, partition=0, timestamp_ms=1)
        again = run(raw, offset=99_999, partition=7, topic="replay", timestamp_ms=2)
        assert event_ids(first) == event_ids(again)
        assert len(set(event_ids(first))) == len(first)


def test_meta_event_id_ignores_formatting(run: Run, sample_json: Sample) -> None:
    doc = sample_json("meta_status_delivered_to_bsuid")
    compact = json.dumps(doc, separators=(",", ":")).encode()
    pretty = json.dumps(doc, indent=4, sort_keys=True).encode()
    assert event_ids(run(compact)) == event_ids(run(pretty))


def status_body(status: str, **fields: Any) -> Any:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "300000000000001",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "metadata": {"phone_number_id": "200000000000001"},
                            "statuses": [
                                {"id": "wamid.OUT", "status": status, "timestamp": "1", **fields}
                            ],
                        },
                    }
                ],
            }
        ],
    }


def test_different_status_different_id(run: Run) -> None:
    ids = {
        s: event_ids(run(status_body(s, recipient_id="14155550123")))[0]
        for s in ("sent", "delivered", "read", "failed")
    }
    assert len(set(ids.values())) == 4
    # A retry of the same status (later delivery, another timestamp) keeps the id.
    retry = status_body("read", recipient_id="14155550123")
    retry["entry"][0]["changes"][0]["value"]["statuses"][0]["timestamp"] = "99"
    assert event_ids(run(retry)) == [ids["read"]]


def test_group_participants_get_different_ids(run: Run) -> None:
    group = {"recipient_id": "120363000000000001", "recipient_type": "group"}
    one = event_ids(run(status_body("read", recipient_participant_id="14155550123", **group)))
    two = event_ids(run(status_body("read", recipient_participant_id="14155550124", **group)))
    three = event_ids(run(status_body("read", recipient_participant_user_id="US.99", **group)))
    assert len({*one, *two, *three}) == 3


def test_standby_copy_differs_from_the_live_copy(run: Run, sample_json: Sample) -> None:
    standby = sample_json("meta_standby_echo_to_phone")
    live = sample_json("meta_standby_echo_to_phone")
    change = live["entry"][0]["changes"][0]
    echo = change["value"].pop("standby")["message_echoes"][0]
    change["field"] = "smb_message_echoes"
    change["value"]["message_echoes"] = [
        {
            "from": "15551230001",
            "to": "447700900456",
            "id": echo["id"],
            "timestamp": echo["timestamp"],
            "type": "text",
        }
    ]
    standby_out, live_out = run(standby), run(live)
    standby_event, live_event = json.loads(standby_out[0].value), json.loads(live_out[0].value)
    # Same customer, same message: only the eventId tells the copies apart.
    assert standby_event["identity"] == live_event["identity"]
    assert standby_event["message"]["id"] == live_event["message"]["id"]
    assert standby_event["eventId"] != live_event["eventId"]


def test_standby_inbound_differs_from_live_inbound(run: Run, sample_json: Sample) -> None:
    live = sample_json("meta_inbound_bsuid_only")
    standby = sample_json("meta_inbound_bsuid_only")
    change = standby["entry"][0]["changes"][0]
    value = change["value"]
    change["field"] = "standby"
    value["standby"] = {"messages": value.pop("messages"), "contacts": value.pop("contacts")}
    assert event_ids(run(live)) != event_ids(run(standby))
    assert len(event_ids(run(standby))) == 1


# --- stats -------------------------------------------------------------------------------------


def test_stats_count_every_outcome(
    run: Run, sample: Callable[[str], bytes], pipeline: Pipeline
) -> None:
    run(sample("meta_inbound_two_messages"))
    run(sample("meta_template_status_update_not_customer"))
    run(b"nope")
    stats = pipeline.stats
    assert stats.records == 3
    assert stats.events == {
        ("identity", "phone_and_bsuid", "inbound_message"): 1,
        ("dropped", "bsuid_only", "inbound_message"): 1,
    }
    assert stats.skips == {"not_customer_field": 1}
    assert stats.dead_letters == {"invalid_json": 1}
    assert stats.by_route() == {"identity": 1, "dropped": 1, "dlq": 1}
    total = PipelineStats()
    total.merge(stats)
    total.merge(stats)
    assert total.records == 6
    assert total.by_route() == {"identity": 2, "dropped": 2, "dlq": 2}


def test_stats_count_records_by_format(
    run: Run, sample: Callable[[str], bytes], pipeline: Pipeline
) -> None:
    run(sample("meta_inbound_two_messages"))
    run(sample("meta_template_status_update_not_customer"))  # skipped, still a Meta record
    run(sample("connectly_inbound_legacy"))
    run(connectly(id="+1-800-FLOWERS"))  # dead-lettered item, still a Connectly record
    run(b"nope")  # no format: in dead_letters only
    assert pipeline.stats.formats == {"meta": 2, "connectly": 2}
    total = PipelineStats()
    total.merge(pipeline.stats)
    total.merge(pipeline.stats)
    assert total.formats == {"meta": 4, "connectly": 4}


def test_kafka_time_is_only_a_fallback(run: Run) -> None:
    out = run(connectly(id="+14155550123"), timestamp_ms=1_900_000_000_000)
    assert json.loads(out[0].value)["occurredAt"] == "1970-01-01T00:00:01Z"
    doc = json.loads(connectly(id="+14155550123"))
    del doc["timestamp"]
    out = run(doc, timestamp_ms=1_782_000_000_999)
    assert json.loads(out[0].value)["occurredAt"] == "2026-06-21T00:00:00Z"


def test_absurd_kafka_time_does_not_crash(run: Run) -> None:
    doc = json.loads(connectly(id="+14155550123"))
    del doc["timestamp"]
    out = run(doc, timestamp_ms=2**63 - 1)
    assert dlqs(out)[0]["dlq.error.code"] == b"schema_mismatch"


# --- a big history chunk -------------------------------------------------------------------------


def history_chunk(threads: int) -> bytes:
    items = [
        {
            "id": f"t{i}",
            "context": {"user_id": f"US.{i:020d}"},
            "messages": [{"timestamp": str(1781000000 + i)}],
        }
        for i in range(threads)
    ]
    doc = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "300000000000001",
                "changes": [
                    {
                        "field": "history",
                        "value": {
                            "metadata": {
                                "display_phone_number": "15551230001",
                                "phone_number_id": "200000000000001",
                            },
                            "history": [
                                {"metadata": {"phase": 0, "chunk_order": 3}, "threads": items}
                            ],
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def test_10k_thread_chunk_is_streamed_through_emit(pipeline: Pipeline) -> None:
    body = history_chunk(10_000)
    seen = {"count": 0, "bytes": 0, "first": "", "last": ""}
    ids: set[str] = set()

    def emit(record: OutputRecord) -> None:
        # Look, count, and let go: a streaming caller keeps nothing.
        event = json.loads(record.value)
        ids.add(event["eventId"])
        seen["count"] += 1
        seen["bytes"] += len(record.value)
        seen["first"] = seen["first"] or event["identity"]["key"]
        seen["last"] = event["identity"]["key"]

    # A first pass fills the bounded caches of what depends only on the customer (10k views
    # here, processor.core.view): memory that stays bounded whatever the stream, and not what
    # this test is about. The second pass, measured, finds them there.
    Pipeline(registry=pipeline.registry).process(InputRecord(value=body), lambda _output: None)
    gc.collect()
    tracemalloc.start()
    try:
        pipeline.process(InputRecord(value=body), emit)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen["count"] == 10_000
    assert len(ids) == 10_000
    assert seen["first"] == f"acme/US.{0:020d}"
    assert seen["last"] == f"acme/US.{9_999:020d}"
    assert pipeline.stats.events == {("identity", "bsuid_only", "history_thread"): 10_000}
    # The encoded events add up to ~8 MB. The decoded chunk is needed whole (~4.5 MB here), but
    # the outputs must not pile up beside it: had `process` collected them before emitting, the
    # peak would exceed their total size.
    assert peak < 0.75 * seen["bytes"], (peak, seen["bytes"])


@pytest.mark.parametrize(
    ("sample_name", "path"),
    [
        ("meta_inbound_phone_and_bsuid", ("messages", 0)),
        ("meta_status_delivered_to_bsuid", ("statuses", 0)),
        ("meta_echo_to_bsuid_only", ("message_echoes", 0)),
        ("meta_call_user_initiated", ("calls", 0)),
    ],
)
def test_items_without_their_id_are_dead_lettered(
    sample_name: str, path: tuple[str, int], run: Run, sample_json: Sample
) -> None:
    """Without an id every such item would share one eventId and upserts would lose them."""
    body = sample_json(sample_name)
    del body["entry"][0]["changes"][0]["value"][path[0]][path[1]]["id"]
    out = run(body)
    assert [o.route for o in out] == ["dlq"]
    assert dlqs(out)[0]["dlq.error.code"] == b"schema_mismatch"
    assert b"`id`" in dlqs(out)[0]["dlq.error.message"]


def test_connectly_status_without_its_id_is_dead_lettered(run: Run, sample_json: Sample) -> None:
    body = sample_json("connectly_delivery_status_bsuid")
    body["statusUpdate"]["id"] = ""
    out = run(body)
    assert [o.route for o in out] == ["dlq"]
    assert dlqs(out)[0]["dlq.error.code"] == b"schema_mismatch"


# --- batches ---------------------------------------------------------------------------------


def test_a_bug_on_one_record_dead_letters_it_and_the_batch_goes_on(
    pipeline: Pipeline, sample: Callable[[str], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    import processor.core.pipeline as module  # noqa: PLC0415 (the module whose function breaks)

    decode = module.decode_record

    def broken(record: InputRecord, *args: Any) -> Any:
        if record.offset == 1:
            raise KeyError("a bug")
        return decode(record, *args)

    monkeypatch.setattr(module, "decode_record", broken)
    body = sample("meta_inbound_bsuid_only")
    records = [InputRecord(value=body, key=b"k", topic="raw", offset=i) for i in range(3)]
    out: list[OutputRecord] = []
    failed: list[tuple[int, str]] = []
    pipeline.process_batch(
        records, out.append, lambda record, exc: failed.append((record.offset, repr(exc)))
    )
    assert [o.route for o in out] == ["identity", "dlq", "identity"]
    assert dict(out[1].headers)["dlq.error.code"] == b"internal_error"
    assert dict(out[1].headers)["dlq.error.message"] == b"KeyError"
    assert failed == [(1, "KeyError('a bug')")]
    assert pipeline.stats.records == 3
    assert pipeline.stats.dead_letters == {"internal_error": 1}
    # Without `failed`, the bug escapes (`classify` shows it), and the records before count.
    with pytest.raises(KeyError):
        pipeline.process_batch(records, out.append)
    assert pipeline.stats.records == 5
