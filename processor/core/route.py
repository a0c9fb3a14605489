"""Identity events and dead letters -> output records (CONTRACT 5)."""

from __future__ import annotations

from typing import Final

import msgspec

from processor.core.records import InputRecord, ItemError, OutputRecord
from schemas.identity import IdentityEvent

FLAGS_HEADER: Final = "identity-flags"
LEGACY_BSUID_FLAG: Final = b"legacy_bsuid_length"

_ENCODER = msgspec.json.Encoder()


def route_event(event: IdentityEvent, *, legacy_length: bool = False) -> OutputRecord:
    """Admitted events go to `identity` keyed by identity key; dropped ones to the audit topic
    keyed by business number."""
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
