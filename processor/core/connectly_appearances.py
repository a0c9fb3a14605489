"""Connectly bodies -> customer appearances (docs/providers.md).

Inbound: the customer is `sender`, the business `recipient.id`. Delivery status: the other way
round. The customer's `id` must equal `userId` whenever `userId` is set.
"""

from __future__ import annotations

import hashlib

from processor.core.appearance import Appearance, BusinessRef
from processor.core.bsuid import looks_like_bsuid
from processor.core.records import ItemError
from schemas.connectly import Party
from schemas.identity import EventType
from schemas.webhook import Envelope


def connectly_appearance(envelope: Envelope, body: bytes) -> Appearance | ItemError:
    event_type: EventType
    if envelope.topic == "delivery_status":
        customer, business, path = envelope.recipient, envelope.sender, "$.recipient"
        update = envelope.status_update
        if update is None or not update.id:
            # The status id is the natural key: without it every status would share an eventId.
            return ItemError("schema_mismatch", "delivery_status without statusUpdate.id at $")
        event_type = "delivery_status"
        key: tuple[str, ...] = ("connectly-status", update.id or "", update.status or "")
        message_id, message_status = update.id or "", update.status or ""
    elif envelope.topic in (None, "", "messages"):
        customer, business, path = envelope.sender, envelope.recipient, "$.sender"
        event_type = "inbound_message"
        # An inbound body has no message id we can rely on: its own bytes are the key.
        key = ("connectly-inbound", hashlib.blake2b(body, digest_size=16).hexdigest())
        message_id, message_status = "", "received"
    else:
        return ItemError("unknown_format", f"unknown Connectly topic {envelope.topic!r} at $.topic")
    if customer is None or business is None:
        return ItemError("schema_mismatch", "sender and recipient are required at $")
    identity = _customer_identity(customer, path)
    if isinstance(identity, ItemError):
        return identity
    bsuid, phone = identity
    return Appearance(
        event_type=event_type,
        business=BusinessRef(format="connectly", number=business.id or ""),
        natural_key=key,
        timestamp=envelope.timestamp,
        bsuid=bsuid,
        phone=phone,
        name=customer.name or None,
        message_id=message_id,
        message_status=message_status,
        path=path,
    )


def _customer_identity(party: Party, path: str) -> tuple[str, str] | ItemError:
    """(bsuid, phone) of a Connectly customer, checked against the table in docs/providers.md."""
    party_id, user_id, phone = party.id or "", party.user_id or "", party.phone_number or ""
    if user_id:
        if party_id and party_id != user_id:
            return ItemError(
                "identity_conflict", f"id differs from userId at {path} (id must equal userId)"
            )
        return user_id, phone
    if looks_like_bsuid(party_id):
        # No userId yet the id is BSUID-shaped: still a BSUID, never a phone.
        return party_id, phone
    if party_id and phone and party_id != phone:
        return ItemError("identity_conflict", f"id differs from phoneNumber at {path}")
    return "", party_id or phone
