"""The envelope every raw record is decoded into first, in a single msgspec pass.

Meta and Connectly bodies share no tag field we could dispatch on, so one Struct holds the
top-level fields of both; the format is then told by which ones are present. Message
payloads (`message`) stay raw: the pipeline never reads message text.
"""

from __future__ import annotations

import msgspec

from schemas.base import WebhookStruct
from schemas.connectly import Party, StatusUpdate
from schemas.meta import Entry, TypedEntry


class Envelope(WebhookStruct, frozen=True, kw_only=True, rename={"status_update": "statusUpdate"}):
    # Meta
    object: str | None = None
    entry: list[Entry] | None = None
    # Connectly
    topic: str | None = None
    timestamp: str | int | None = None
    sender: Party | None = None
    recipient: Party | None = None
    status_update: StatusUpdate | None = None
    #: The message payload: skipped, never decoded (its text is none of our business).
    message: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)


class TypedEnvelope(Envelope, frozen=True, kw_only=True, rename={"status_update": "statusUpdate"}):
    """The same envelope with every change decoded in one pass. A body this rejects is decoded
    again as an `Envelope`, whose raw changes let one bad change fail alone."""

    entry: list[TypedEntry] | None = None  # type: ignore[assignment]


ENVELOPE_DECODER = msgspec.json.Decoder(Envelope)
TYPED_ENVELOPE_DECODER = msgspec.json.Decoder(TypedEnvelope)
