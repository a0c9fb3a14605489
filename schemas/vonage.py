"""Vonage Messages API webhooks, WhatsApp channel: the fields the pipeline reads.

A body is decoded into `VonageBody` in one pass when `webhook-source: vonage` names it; a body
told by its shape was first read as `schemas.webhook.Envelope`, whose only Vonage field is
the `message_uuid` marker.
"""

from __future__ import annotations

import msgspec

from schemas.base import WebhookStruct


class Profile(WebhookStruct, frozen=True, kw_only=True):
    """The customer's WhatsApp profile: `username` only when they adopted one."""

    name: str | None = None
    username: str | None = None


class Recipient(WebhookStruct, frozen=True, kw_only=True):
    """`whatsapp.recipient` of a status callback: the customer the business wrote to."""

    user_id: str | None = None
    parent_user_id: str | None = None
    wa_id: str | None = None


class WhatsApp(WebhookStruct, frozen=True, kw_only=True):
    """`whatsapp`: channel details; pricing and conversation are none of our business."""

    recipient: Recipient | None = None


class VonageBody(WebhookStruct, frozen=True, kw_only=True):
    """A status callback (it has `status`) or an inbound message (it does not)."""

    message_uuid: str | None = None
    channel: str | None = None
    to: str | None = None
    from_: str | None = msgspec.field(default=None, name="from")
    #: ISO 8601 (`2025-02-03T12:14:25Z`).
    timestamp: str | int | None = None
    status: str | None = None
    profile: Profile | None = None
    whatsapp: WhatsApp | None = None


VONAGE_DECODER = msgspec.json.Decoder(VonageBody)
