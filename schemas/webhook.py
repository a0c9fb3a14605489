"""The envelope a Meta or Connectly body, and any body without `webhook-source`, is decoded
into: a single msgspec pass.

The providers' bodies share no tag field we could dispatch on, so one Struct holds the
top-level fields of Meta and Connectly (the bulk of the traffic: their bodies are read here
whatever the headers say) and one marker field of every other provider; the format is then
told by which are present (`processor.core.formats`). Message payloads (`message`) stay raw:
the pipeline never reads message text.
"""

from __future__ import annotations

from typing import Any

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
    # Other providers: one marker field each, only its presence is read here (which format
    # a body without `webhook-source` has). Their bodies are decoded into their own Structs
    # (schemas.vonage, schemas.wati), so their field names never meet Meta's or Connectly's.
    #: Vonage (any JSON value: its type is checked by `schemas.vonage.VonageBody`).
    message_uuid: Any = None
    #: WATI (likewise, by `schemas.wati.WatiBody`).
    event_type: Any = msgspec.field(default=None, name="eventType")


class TypedEnvelope(Envelope, frozen=True, kw_only=True, rename={"status_update": "statusUpdate"}):
    """The same envelope with every change decoded in one pass. A body this rejects is decoded
    again as an `Envelope`, whose raw changes let one bad change fail alone."""

    entry: list[TypedEntry] | None = None  # type: ignore[assignment]


ENVELOPE_DECODER = msgspec.json.Decoder(Envelope)
TYPED_ENVELOPE_DECODER = msgspec.json.Decoder(TypedEnvelope)
