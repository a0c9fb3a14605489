"""The envelope every raw record is decoded into first, in a single msgspec pass.

The providers' bodies share no tag field we could dispatch on, so one Struct holds the
top-level fields of every format (one block each); the format is then told by which ones
are present (`processor.core.formats`). A field name two providers share must have one type
that suits both. Message payloads (`message`) stay raw: the pipeline never reads message text.
"""

from __future__ import annotations

import msgspec

from schemas import vonage
from schemas.base import WebhookStruct
from schemas.connectly import Party, StatusUpdate
from schemas.meta import Entry, TypedEntry


class Envelope(WebhookStruct, frozen=True, kw_only=True, rename={"status_update": "statusUpdate"}):
    # Meta
    object: str | None = None
    entry: list[Entry] | None = None
    # Connectly
    topic: str | None = None
    #: Connectly and WATI: unix seconds; Vonage: ISO 8601.
    timestamp: str | int | None = None
    sender: Party | None = None
    recipient: Party | None = None
    status_update: StatusUpdate | None = None
    #: The message payload: skipped, never decoded (its text is none of our business).
    message: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)
    # Vonage Messages API
    message_uuid: str | None = None
    channel: str | None = None
    to: str | None = None
    from_: str | None = msgspec.field(default=None, name="from")
    status: str | None = None
    profile: vonage.Profile | None = None
    whatsapp: vonage.WhatsApp | None = None
    # WATI (flat, camelCase)
    event_type: str | None = msgspec.field(default=None, name="eventType")
    whatsapp_message_id: str | None = msgspec.field(default=None, name="whatsappMessageId")
    wa_id: str | None = msgspec.field(default=None, name="waId")
    bsuid: str | None = None
    parent_bsuid: str | None = msgspec.field(default=None, name="parentBsuid")
    username: str | None = None
    sender_name: str | None = msgspec.field(default=None, name="senderName")
    channel_phone_number: str | None = msgspec.field(default=None, name="channelPhoneNumber")
    #: False: the customer wrote; true: the business sent it.
    owner: bool | None = None
    #: The message type (`text`, `image`, ...).
    type: str | None = None


class TypedEnvelope(Envelope, frozen=True, kw_only=True, rename={"status_update": "statusUpdate"}):
    """The same envelope with every change decoded in one pass. A body this rejects is decoded
    again as an `Envelope`, whose raw changes let one bad change fail alone."""

    entry: list[TypedEntry] | None = None  # type: ignore[assignment]


ENVELOPE_DECODER = msgspec.json.Decoder(Envelope)
TYPED_ENVELOPE_DECODER = msgspec.json.Decoder(TypedEnvelope)
