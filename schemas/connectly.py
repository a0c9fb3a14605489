"""Connectly webhooks (docs/providers.md): inbound messages and delivery statuses."""

from __future__ import annotations

from schemas.base import WebhookStruct


class Party(WebhookStruct, frozen=True, kw_only=True, rename="camel"):
    """A sender or recipient. For the customer: `id`, `userId` and `phoneNumber` carry identity."""

    id: str | None = None
    channel_type: str | None = None
    name: str | None = None
    user_id: str | None = None
    phone_number: str | None = None


class StatusUpdate(WebhookStruct, frozen=True, kw_only=True):
    id: str | None = None
    status: str | None = None
