"""WATI webhooks: the fields of its BSUID-first message event the pipeline reads.

A body is decoded into `WatiBody` in one pass when `webhook-source: wati` names it; a body
told by its shape was first read as `schemas.webhook.Envelope`, whose only WATI field is the
`eventType` marker. Flat and camelCase on the wire.
"""

from __future__ import annotations

import msgspec

from schemas.base import WebhookStruct


class WatiBody(WebhookStruct, frozen=True, kw_only=True, rename="camel"):
    event_type: str | None = None
    whatsapp_message_id: str | None = None
    #: Unix seconds as a string.
    timestamp: str | int | None = None
    #: The customer's phone (digits), when shared.
    wa_id: str | None = None
    bsuid: str | None = None
    parent_bsuid: str | None = None
    #: `@handle`.
    username: str | None = None
    sender_name: str | None = None
    #: The business number (digits).
    channel_phone_number: str | None = None
    #: False: the customer wrote; true: the business sent it.
    owner: bool | None = None
    #: The message type (`text`, `image`, ...).
    type: str | None = None


WATI_DECODER = msgspec.json.Decoder(WatiBody)
