"""Vonage Messages API webhooks, WhatsApp channel (mapping: docs/providers.md).

A status callback (it has `status`) reports on a message the business sent: the business
number is `from`, the customer is what the business addressed (`to`: a phone, a BSUID, or a
parent BSUID) united with `whatsapp.recipient` (`user_id`, `parent_user_id`, `wa_id`). An
inbound message has no `status`: the business number is `to`, the customer `from` (a phone,
or a BSUID when the customer hides it). Phones come as digits; times as ISO 8601.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from processor.core.appearance import Appearance, BusinessRef, Skipped
from processor.core.bsuid import looks_like_bsuid
from processor.core.formats.base import FormatAdapter, Item
from processor.core.records import InputRecord, ItemError
from processor.core.signature import VONAGE_HEADER, SigningSecrets, vonage_signature_ok
from processor.core.union import bsuid_union, parent_union, phone_union
from schemas.vonage import VONAGE_DECODER, Recipient, VonageBody

_NO_RECIPIENT = Recipient()


class VonageFormat(FormatAdapter[VonageBody]):
    """Signed with an HS256 JWT in `authorization` (a header any API may send: no format hint)."""

    name = "vonage"
    shape = ("message_uuid",)
    decoder = VONAGE_DECODER

    def signature_ok(self, record: InputRecord, secrets: SigningSecrets) -> bool:
        return not secrets.vonage or vonage_signature_ok(
            record.value, record.header(VONAGE_HEADER), secrets.vonage
        )

    def appearances(self, body: VonageBody, raw: bytes, include_standby: bool) -> Iterable[Item]:
        return (vonage_appearance(body),)


def vonage_appearance(body: VonageBody) -> Appearance | ItemError | Skipped:
    if body.channel != "whatsapp":
        if body.channel is None:
            return ItemError("schema_mismatch", "Object missing required field `channel` - at `$`")
        # SMS, MMS, Viber, Messenger callbacks of the same application: no WhatsApp customer.
        return Skipped("not_whatsapp_channel")
    uuid = body.message_uuid
    if not uuid:
        # The natural key: without it every message of the number would share one eventId.
        return ItemError("schema_mismatch", "Object missing required field `message_uuid` - at `$`")
    timestamp = _unix_seconds(body.timestamp)
    if isinstance(timestamp, ItemError):
        return timestamp
    profile = body.profile
    name = (profile.name or None) if profile else None
    username = (profile.username or "") if profile else ""
    if body.status is not None:
        whatsapp = body.whatsapp
        recipient = (whatsapp.recipient if whatsapp else None) or _NO_RECIPIENT
        customer = _united(body.to or "", recipient)
        if isinstance(customer, ItemError):
            return customer
        phone, bsuid, parent = customer
        return Appearance(
            event_type="delivery_status",
            business=BusinessRef(format="vonage", number=body.from_ or ""),
            natural_key=("vonage-status", uuid, body.status),
            timestamp=timestamp,
            bsuid=bsuid,
            parent_bsuid=parent,
            phone=phone,
            name=name,
            username=username,
            message_id=uuid,
            message_status=body.status,
            path="$.to",
        )
    sender = body.from_ or ""
    bsuid = sender if looks_like_bsuid(sender) else ""
    return Appearance(
        event_type="inbound_message",
        business=BusinessRef(format="vonage", number=body.to or ""),
        natural_key=("vonage-inbound", uuid),
        timestamp=timestamp,
        bsuid=bsuid,
        phone="" if bsuid else sender,
        name=name,
        username=username,
        message_id=uuid,
        message_status="received",
        path="$.from",
    )


def _united(to: str, recipient: Recipient) -> tuple[str, str, str] | ItemError:
    """(phone, BSUID, parent BSUID): what the business addressed, united with the recipient."""
    phone = bsuid = parent = ""
    if looks_like_bsuid(to):
        # A parent BSUID (`CC.ENT.body`) can be addressed too; a child body has no dots.
        if to[2:7] == ".ENT.":
            parent = to
        else:
            bsuid = to
    else:
        phone = to
    united_phone = phone_union(phone, recipient.wa_id or "")
    if united_phone is None:
        return _conflict("phone", "wa_id")
    united_bsuid = bsuid_union(bsuid, recipient.user_id or "")
    if united_bsuid is None:
        return _conflict("BSUID", "user_id")
    united_parent = parent_union(parent, recipient.parent_user_id or "")
    if united_parent is None:
        return _conflict("parent BSUID", "parent_user_id")
    return united_phone, united_bsuid, united_parent


def _conflict(what: str, field: str) -> ItemError:
    return ItemError(
        "identity_conflict", f"{what} differs between `to` and whatsapp.recipient.{field} at $"
    )


def _unix_seconds(timestamp: str | int | None) -> str | int | ItemError | None:
    """Vonage sends ISO 8601 (`2025-02-03T12:14:25Z`, or with milliseconds); unix seconds,
    and no time at all, are passed on for classification to judge as for any format."""
    if not isinstance(timestamp, str) or not timestamp or timestamp.isdigit():
        return timestamp
    try:
        parsed = datetime.fromisoformat(timestamp)
    except ValueError:
        return ItemError("schema_mismatch", "timestamp is not ISO 8601 at $.timestamp")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # Vonage's times are UTC
    return int(parsed.timestamp())
