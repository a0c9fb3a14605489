"""What one identity event says about links: a link fact, a rotation, both, or nothing.

A link needs both identifiers from the same event, and a phone the customer really owns:
`phone_and_bsuid` events (messages, statuses, calls, echoes, history threads, contact sync,
preference updates) and `contact_shared` only when the phone is attested (a contact request:
any other card is someone else's contact, docs/behaviour.md). An `identity_change`
with a `previousBsuid` is also a rotation. Events with one identifier never create a link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from schemas.identity import IdentityEvent

SkipReason = Literal["one_identifier", "unattested_card", "own_rotation", "bad_time"]

#: `message.status` of the identity_change events this stage announces itself (phone
#: continuity). They are skipped on the way back in: the state already holds what they say.
PHONE_CONTINUITY = "phone_continuity"


@dataclass(frozen=True, slots=True)
class Observation:
    """One identity event reduced to what the link state needs; keys include the scope."""

    scope: str
    #: Phone identity key `<scope>/<E.164>`, or "" when the event has no phone.
    phone: str
    #: BSUID identity key `<scope>/<bsuid>`.
    bsuid: str
    #: BSUID key the identity_change names as previous ("" otherwise).
    previous: str
    at: int
    event_id: str
    #: From an identity_change event: Meta already announced any rotation it carries.
    system: bool
    parent: str
    username: str
    #: The event links `phone` and `bsuid`.
    links: bool
    #: The event replaces `previous` with `bsuid`.
    rotates: bool


def observe(event: IdentityEvent) -> Observation | SkipReason:
    """The link facts of `event`, or why it has none."""
    identity = event.identity
    system = event.event_type == "identity_change"
    if system and event.message.status == PHONE_CONTINUITY:
        return "own_rotation"
    rotates = system and bool(identity.previous_bsuid and identity.bsuid)
    rotates = rotates and identity.previous_bsuid != identity.bsuid
    links = bool(identity.phone and identity.bsuid)
    if links and event.event_type == "contact_shared" and not identity.phone_attested:
        links = False
        if not rotates:
            return "unattested_card"
    if not links and not rotates:
        return "one_identifier"
    at = event_seconds(event.occurred_at)
    if at is None:
        return "bad_time"
    scope = event.business.scope
    return Observation(
        scope=scope,
        phone=f"{scope}/{identity.phone}" if identity.phone else "",
        bsuid=f"{scope}/{identity.bsuid}",
        previous=f"{scope}/{identity.previous_bsuid}" if rotates else "",
        at=at,
        event_id=event.event_id,
        system=system,
        parent=identity.parent_bsuid,
        username=identity.username,
        links=links,
        rotates=rotates,
    )


def event_seconds(occurred_at: str) -> int | None:
    """Unix seconds of the event's `occurredAt` (ISO 8601 UTC, as the pipeline writes it)."""
    try:
        return int(datetime.fromisoformat(occurred_at).timestamp())
    except ValueError:
        return None


def bare(key: str) -> str:
    """The identifier of an identity key, without its scope."""
    return key[key.index("/") + 1 :]


def is_phone_key(key: str) -> bool:
    # E.164 always starts with "+", a BSUID with its country code: the two never collide.
    return key[key.index("/") + 1] == "+"
