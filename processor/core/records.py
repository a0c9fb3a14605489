"""What goes into the pipeline and what comes out of it."""

from __future__ import annotations

from typing import Literal

import msgspec

Route = Literal["identity", "dropped", "dlq"]

DeadLetterCode = Literal[
    "invalid_json",
    "unknown_format",
    "schema_mismatch",
    "invalid_bsuid",
    "invalid_phone",
    "identity_conflict",
    "missing_identity",
    "bad_signature",
    "too_large",
    "invalid_control",
    # Not in the contract's list: a bug in the pipeline itself. The worker dead-letters the
    # record instead of stopping the stream; the property tests show the pipeline never raises.
    "internal_error",
]

SkipReason = Literal[
    "not_customer_field",
    "no_customer_appearance",
    "standby_ignored",
    # Vonage callbacks of another channel (SMS, Viber, ...) than WhatsApp (docs/providers.md).
    "not_whatsapp_channel",
    # WATI events other than `message_bsuid` (docs/providers.md).
    "other_wati_event",
]

Headers = list[tuple[str, bytes]]


# Frozen msgspec Structs, not frozen dataclasses: a frozen dataclass sets each field through
# object.__setattr__, which made building these records ~5x slower, per record and per output.
# `gc=False` on every pipeline Struct: they hold strings, bytes and other such Structs, never
# a cycle, and collections over millions of them per minute were a third of the worker's CPU.
class InputRecord(msgspec.Struct, frozen=True, gc=False):
    """One Kafka record as consumed (or one `classify` input line, with made-up coordinates)."""

    value: bytes
    key: bytes | None = None
    headers: Headers = msgspec.field(default_factory=list)
    topic: str = ""
    partition: int = 0
    offset: int = 0
    #: Kafka record timestamp in milliseconds: only a fallback when the body carries no time.
    timestamp_ms: int = 0

    def header(self, name: str) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


class OutputRecord(msgspec.Struct, frozen=True, gc=False):
    """A record to publish: the route picks the topic, the rest is the Kafka record."""

    route: Route
    key: bytes | None
    value: bytes
    headers: Headers = msgspec.field(default_factory=list)


class ItemError(msgspec.Struct, frozen=True, gc=False):
    """Why one customer appearance (or a whole body) cannot be published."""

    code: DeadLetterCode
    message: str
