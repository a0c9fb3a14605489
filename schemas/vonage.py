"""Vonage Messages API webhooks, WhatsApp channel (CONTRACT 2.4): the fields the pipeline reads.

The top-level fields (`message_uuid`, `to`, `from`, `timestamp`, `status`, `channel`, `profile`,
`whatsapp`) are on `schemas.webhook.Envelope`; these are the objects inside them.
"""

from __future__ import annotations

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
