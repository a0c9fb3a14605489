"""Identity events and dead letters -> output records (docs/schemas.md)."""

from __future__ import annotations

from typing import Final

import msgspec

from processor.core.appearance import Appearance
from processor.core.classify import iso_utc
from processor.core.normalize import event_id
from processor.core.records import InputRecord, ItemError, OutputRecord
from processor.core.view import CustomerView
from schemas.identity import SCHEMA_VERSION, IdentityEvent, MessageRef, Source

FLAGS_HEADER: Final = "identity-flags"
LEGACY_BSUID_FLAG: Final = b"legacy_bsuid_length"

_ENCODER = msgspec.json.Encoder()


class WireEvent(msgspec.Struct, frozen=True, gc=False, rename="camel"):
    """`schemas.identity.IdentityEvent` as published, with the parts that depend only on the
    customer and business encoded beforehand (`processor.core.view`): the same fields in the
    same order, so the same bytes (tests/unit/test_route.py, tests/golden/)."""

    schema: str
    event_id: str
    event_type: str
    occurred_at: str
    source: Source
    business: msgspec.Raw
    customer: msgspec.Raw
    identity: msgspec.Raw
    gate: msgspec.Raw
    message: MessageRef
    reach: msgspec.Raw


def route_view(
    view: CustomerView, app: Appearance, occurred_at: int, source: Source
) -> OutputRecord:
    """The event of one appearance of the customer of `view`: to `identity` keyed by identity
    key, or to the audit topic keyed by business number (the view has chosen)."""
    event = WireEvent(
        SCHEMA_VERSION,
        event_id(app.natural_key),
        app.event_type,
        iso_utc(occurred_at),
        source,
        view.business,
        view.customer,
        view.identity,
        view.gate,
        MessageRef(id=app.message_id, status=app.message_status),
        view.reach,
    )
    headers = [(FLAGS_HEADER, LEGACY_BSUID_FLAG)] if view.legacy_length else []
    return OutputRecord(view.route, view.key, _ENCODER.encode(event), headers)


def route_event(event: IdentityEvent, *, legacy_length: bool = False) -> OutputRecord:
    """A whole `IdentityEvent` as `route_view` publishes it: admitted events go to `identity`
    keyed by identity key, dropped ones to the audit topic keyed by business number."""
    value = _ENCODER.encode(event)
    headers = [(FLAGS_HEADER, LEGACY_BSUID_FLAG)] if legacy_length else []
    if event.gate.decision == "drop":
        return OutputRecord("dropped", event.business.number.encode(), value, headers)
    return OutputRecord("identity", event.identity.key.encode(), value, headers)


def dead_letter(record: InputRecord, error: ItemError) -> OutputRecord:
    """The original bytes, key and headers unchanged, plus where they came from and why."""
    headers = [
        *record.headers,
        ("dlq.error.code", error.code.encode()),
        ("dlq.error.message", error.message.encode()),
        ("dlq.source.topic", record.topic.encode()),
        ("dlq.source.partition", str(record.partition).encode()),
        ("dlq.source.offset", str(record.offset).encode()),
    ]
    return OutputRecord("dlq", record.key, record.value, headers)
