"""The identity_change event this stage announces for a rotation seen by phone continuity.

Connectly sends no system message when a customer's BSUID changes: the same phone simply shows
up with a new BSUID. Downstream teams re-key on the newest BSUID, so the stage announces it
with the identity event schema they already consume (docs/schemas.md).
"""

from __future__ import annotations

from typing import Final

import msgspec

from processor.core.normalize import event_id, reach_for
from processor.links.observe import PHONE_CONTINUITY, bare
from processor.links.state import Rotated
from schemas.identity import IdentityEvent, MessageRef

#: Output header that tells announced events from the pipeline's own.
DERIVED_HEADER: Final = ("identity-derived", b"links")


def rotation_event_id(scope: str, phone: str, old: str, new: str) -> str:
    """Deterministic: one id per (scope, phone, old BSUID, new BSUID), so a replay or a
    duplicate announces the same event, which consumers upsert by eventId."""
    return event_id(("links-rotation", scope, phone, old, new))


def rotation_event(trigger: IdentityEvent, rotated: Rotated) -> IdentityEvent:
    """The announcement, built from the event that revealed the rotation (its business,
    source, time and gate), with the identity of the rotation."""
    scope = trigger.business.scope
    phone, old, new = bare(rotated.phone), bare(rotated.old), bare(rotated.new)
    customer = trigger.customer
    if customer.user_id:
        # The BSUID view (number enabled) shows the new BSUID; the legacy view the phone.
        customer = msgspec.structs.replace(customer, id=new, user_id=new, phone_number=phone)
    else:
        customer = msgspec.structs.replace(customer, id=phone, phone_number=phone)
    identity = msgspec.structs.replace(
        trigger.identity,
        class_="phone_and_bsuid",
        key=f"{scope}/{new}",
        bsuid=new,
        phone=phone,
        previous_bsuid=old,
        country=new[:2],
    )
    return msgspec.structs.replace(
        trigger,
        event_id=rotation_event_id(scope, phone, old, new),
        event_type="identity_change",
        customer=customer,
        identity=identity,
        message=MessageRef(id=trigger.message.id, status=PHONE_CONTINUITY),
        reach=reach_for(customer),
    )
