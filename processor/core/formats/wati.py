"""WATI's BSUID-first webhooks (mapping: docs/providers.md).

Only `eventType == "message_bsuid"` carries a customer here: a message the customer wrote
(`owner` false, an `inbound_message`) or one the business sent (`owner` true, a
`message_echo`). `bsuid` is the customer's primary identifier, `waId` the phone when shared,
`channelPhoneNumber` the business number. Every other WATI event is a counted skip. WATI
documents no webhook signature, so there is nothing to verify.
"""

from __future__ import annotations

from collections.abc import Iterable

from processor.core.appearance import Appearance, BusinessRef, Skipped
from processor.core.bsuid import looks_like_bsuid
from processor.core.formats.base import FormatAdapter, Item
from processor.core.records import ItemError
from processor.core.union import bsuid_union
from schemas.identity import EventType
from schemas.wati import WATI_DECODER, WatiBody

BSUID_MESSAGE = "message_bsuid"


class WatiFormat(FormatAdapter[WatiBody]):
    name = "wati"
    shape = ("event_type",)
    decoder = WATI_DECODER

    def appearances(self, body: WatiBody, raw: bytes, include_standby: bool) -> Iterable[Item]:
        return (wati_appearance(body),)


def wati_appearance(body: WatiBody) -> Appearance | ItemError | Skipped:
    if body.event_type != BSUID_MESSAGE:
        if body.event_type is None:
            # Only a `webhook-source: wati` header gets a body without one this far.
            return _missing("eventType")
        return Skipped("other_wati_event")
    message_id = body.whatsapp_message_id
    if not message_id:
        # The natural key: without it every message of the number would share one eventId.
        return _missing("whatsappMessageId")
    if body.owner is None:
        # Who wrote it decides the event type; guessing would mislabel half of them.
        return _missing("owner")
    phone, bsuid = body.wa_id or "", body.bsuid or ""
    if looks_like_bsuid(phone):
        # `waId` is the WhatsApp id: a BSUID where the phone is hidden. It must be the same
        # customer as `bsuid`.
        united = bsuid_union(bsuid, phone)
        if united is None:
            return ItemError("identity_conflict", "waId differs from bsuid at $")
        phone, bsuid = "", united
    event_type: EventType = "message_echo" if body.owner else "inbound_message"
    return Appearance(
        event_type=event_type,
        business=BusinessRef(format="wati", number=body.channel_phone_number or ""),
        natural_key=("wati-message", message_id, body.channel_phone_number or ""),
        timestamp=body.timestamp,
        bsuid=bsuid,
        parent_bsuid=body.parent_bsuid or "",
        phone=phone,
        # On a message the business sent, the sender is the business's operator.
        name=None if body.owner else body.sender_name or None,
        # WATI writes the handle as `@bob`; the other formats without the `@`.
        username=(body.username or "").removeprefix("@"),
        message_id=message_id,
        message_status=(body.type or "") if body.owner else "received",
        path="$",
    )


def _missing(field: str) -> ItemError:
    return ItemError("schema_mismatch", f"Object missing required field `{field}` - at `$`")
