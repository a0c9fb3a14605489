"""Output records (docs/schemas.md): routes, keys, the legacy flag header, dead letters."""

from __future__ import annotations

from processor.core.records import InputRecord, ItemError
from processor.core.route import FLAGS_HEADER, LEGACY_BSUID_FLAG, dead_letter


def test_dead_letter_keeps_the_record_and_adds_why_and_where() -> None:
    record = InputRecord(
        value=b"\x00not json",
        key=b"the-key",
        headers=[("webhook-source", b"meta"), ("received-at", b"2026-06-21T00:00:00Z")],
        topic="whatsapp.webhooks.raw",
        partition=4,
        offset=123456,
    )
    out = dead_letter(record, ItemError("invalid_json", "nope"))
    assert out.route == "dlq"
    assert out.key == b"the-key"
    assert out.value is record.value
    assert out.headers == [
        ("webhook-source", b"meta"),
        ("received-at", b"2026-06-21T00:00:00Z"),
        ("dlq.error.code", b"invalid_json"),
        ("dlq.error.message", b"nope"),
        ("dlq.source.topic", b"whatsapp.webhooks.raw"),
        ("dlq.source.partition", b"4"),
        ("dlq.source.offset", b"123456"),
    ]


def test_dead_letter_without_key() -> None:
    out = dead_letter(InputRecord(value=b"{}"), ItemError("unknown_format", "x"))
    assert out.key is None
    assert out.value == b"{}"


def test_flag_names() -> None:
    assert FLAGS_HEADER == "identity-flags"
    assert LEGACY_BSUID_FLAG == b"legacy_bsuid_length"
