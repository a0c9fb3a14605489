"""One Meta item -> one customer appearance (docs/providers.md); the walk over a body that
finds the items is `meta_appearances`.

The customer is always the other party: `from` on inbound messages and user-initiated calls,
`to` on echoes and business-initiated calls, the recipient (or group participant) on
statuses, the thread context in history, the synced contact.

These run once per item of nearly every record: attributes are read once, natural keys are
built as tuples in one step, and no helper is called where an `or ""` will do.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import msgspec

from processor.core.appearance import Appearance, BusinessRef, Where
from processor.core.bsuid import looks_like_bsuid
from processor.core.records import ItemError
from processor.core.union import bsuid_union, parent_union, phone_union
from schemas import meta
from schemas.identity import EventType

Found = Appearance | ItemError
_CONTACT_REQUEST_ORIGINS = frozenset({"contact_request", "request_contact_info"})
_BODY_CHANGE = re.compile(r"changed from (\S+) to (\S+)")
_NO_HISTORY_METADATA = meta.HistoryChunkMetadata()
_NO_CONTEXT = meta.ThreadContext()
_NO_CONTACT = meta.SyncedContact()
_NO_PAIR = meta.UserIdPair()

#: (phone, BSUID, parent BSUID, profile name, username, conflict) of one customer
#: appearance; `conflict` is the item's dead letter when its identifiers disagree.
Customer = tuple[str, str, str, str | None, str, ItemError | None]


class Change(msgspec.Struct, frozen=True, gc=False):
    """One customer change of a body: its business, contacts and where it sits."""

    business: BusinessRef
    contacts: list[meta.Contact] | None
    path: Where
    #: A standby copy (another app is the active handler): its natural keys differ.
    standby: bool = False

    def keyed(self, key: tuple[str, ...]) -> tuple[str, ...]:
        return (*key, "standby") if self.standby else key


def with_contacts(
    contacts: list[meta.Contact] | None, phone: str, bsuid: str, parent: str, path: Where
) -> Customer:
    """The item's identifiers united with those of its `contacts[]` entries
    (docs/classification.md), and the profile of the first matching contact.

    A contact is the item's when `wa_id` equals the item's phone or `user_id` its BSUID: by
    identifier, never by index, and only by the identifiers the item itself carries (an item
    with only a phone matches on the phone). Every matching contact adds what the item lacks;
    two values of one identifier that differ are an `identity_conflict`, whichever two of the
    item and its contacts carry them.

    This runs for nearly every item of every Meta body: each attribute is read once, the
    union functions run only where a contact says something the item does not, and a conflict
    comes back in the tuple (no isinstance() on a Struct class: four times an `is None`).
    """
    if not contacts:
        return phone, bsuid, parent, None, "", None
    own_phone, own_bsuid = phone, bsuid
    profile: meta.Profile | None = None
    matched = False
    for contact in contacts:
        wa_id, user_id = contact.wa_id, contact.user_id
        if not ((own_phone and wa_id == own_phone) or (own_bsuid and user_id == own_bsuid)):
            continue
        if not matched:
            matched, profile = True, contact.profile
        if wa_id and wa_id != phone:
            united = phone_union(phone, wa_id)
            if united is None:
                return phone, bsuid, parent, None, "", _conflict("phone", "wa_id", path)
            phone = united
        if user_id and user_id != bsuid:
            united = bsuid_union(bsuid, user_id)
            if united is None:
                return phone, bsuid, parent, None, "", _conflict("BSUID", "user_id", path)
            bsuid = united
        parent_id = contact.parent_user_id
        if parent_id and parent_id != parent:
            united = parent_union(parent, parent_id)
            if united is None:
                conflict = _conflict("parent BSUID", "parent_user_id", path)
                return phone, bsuid, parent, None, "", conflict
            parent = united
    if profile is None:
        return phone, bsuid, parent, None, "", None
    return phone, bsuid, parent, profile.name or None, profile.username or "", None


def _conflict(what: str, field: str, path: Where) -> ItemError:
    # No identifier values in the message: dead-letter headers are read by people and tools
    # that have no business seeing phone numbers.
    return ItemError(
        "identity_conflict", f"{what} differs between the item and contacts[].{field} at {path}"
    )


def message(change: Change, msg: meta.Message, index: int) -> Found:
    path = Where(change.path, "messages", index)
    msg_id = msg.id
    if not msg_id:
        return _missing_id(path)
    if msg.type == "system" and msg.system is not None:
        return _system(change, msg, msg_id, msg.system, path)
    phone, bsuid, parent = msg.from_ or "", msg.from_user_id or "", msg.from_parent_user_id or ""
    phone, bsuid, parent, name, username, conflict = with_contacts(
        change.contacts, phone, bsuid, parent, path
    )
    if conflict is not None:
        return conflict
    event_type: EventType = "inbound_message"
    attested = False
    if msg.type == "contacts":
        shared = _requested_phone(msg.contacts)
        if shared:
            event_type, attested = "contact_shared", True
            phone = phone or shared
    return Appearance(
        event_type=event_type,
        business=change.business,
        natural_key=change.keyed(("message", msg_id, change.business.phone_number_id)),
        timestamp=msg.timestamp,
        bsuid=bsuid,
        parent_bsuid=parent,
        phone=phone,
        name=name,
        username=username,
        phone_attested=attested,
        message_id=msg_id,
        message_status="received",
        path=path,
    )


def _system(
    change: Change, msg: meta.Message, msg_id: str, system: meta.SystemChange, path: Where
) -> Found:
    previous = system.previous_user_id or ""
    old, new = _body_change(system.body)
    if system.type == "user_changed_number":
        phone = system.wa_id or system.new_wa_id or (new if not looks_like_bsuid(new) else "")
        bsuid = system.user_id or ""
    else:
        phone = msg.from_ or ""
        bsuid = system.user_id or (new if looks_like_bsuid(new) else "")
        if not previous and looks_like_bsuid(old):
            previous = old
    return Appearance(
        event_type="identity_change",
        business=change.business,
        natural_key=change.keyed(("system", msg_id)),
        timestamp=msg.timestamp,
        bsuid=bsuid,
        parent_bsuid=system.parent_user_id or "",
        phone=phone,
        previous_bsuid=previous,
        message_id=msg_id,
        message_status=system.type or "",
        path=path,
    )


def status(change: Change, status: meta.Status, index: int, event_type: EventType) -> Found:
    path = Where(change.path, "statuses", index)
    status_id = status.id
    if not status_id:
        return _missing_id(path)
    kind = "status" if event_type == "delivery_status" else "call"
    state = status.status or ""
    if status.recipient_type == "group":
        # The recipient is the group: the customer is the participant. Every participant
        # gets the same status id, so the participant is part of the natural key.
        phone = status.recipient_participant_id or ""
        bsuid = status.recipient_participant_user_id or ""
        key: tuple[str, ...] = (kind, status_id, state, phone or bsuid)
    else:
        phone, bsuid = status.recipient_id or "", status.recipient_user_id or ""
        key = (kind, status_id, state)
    parent = (
        status.recipient_parent_user_id
        or status.parent_recipient_user_id
        or status.parent_user_id
        or ""
    )
    phone, bsuid, parent, name, username, conflict = with_contacts(
        change.contacts, phone, bsuid, parent, path
    )
    if conflict is not None:
        return conflict
    return Appearance(
        event_type=event_type,
        business=change.business,
        natural_key=change.keyed(key),
        timestamp=status.timestamp,
        bsuid=bsuid,
        parent_bsuid=parent,
        phone=phone,
        name=name,
        username=username,
        message_id=status_id,
        message_status=state,
        path=path,
    )


def echo(change: Change, echo: meta.Echo, index: int) -> Found:
    path = Where(change.path, "message_echoes", index)
    echo_id = echo.id
    if not echo_id:
        return _missing_id(path)
    phone, bsuid = echo.to or "", echo.to_user_id or ""
    sent = echo.message
    if sent is not None and not (phone or bsuid):
        # Standby echoes carry the sent request: its recipient may be a phone or a BSUID.
        recipient = sent.to or sent.recipient or ""
        if looks_like_bsuid(recipient):
            bsuid = recipient
        else:
            phone = recipient
    phone, bsuid, parent, name, username, conflict = with_contacts(
        change.contacts, phone, bsuid, echo.to_parent_user_id or "", path
    )
    if conflict is not None:
        return conflict
    return Appearance(
        event_type="message_echo",
        business=change.business,
        natural_key=change.keyed(("echo", echo_id, change.business.phone_number_id)),
        timestamp=echo.timestamp,
        bsuid=bsuid,
        parent_bsuid=parent,
        phone=phone,
        name=name,
        username=username,
        message_id=echo_id,
        # The echo's type tells a sent message from a `revoke` or an `edit`.
        message_status=echo.type or (sent.type if sent else None) or "",
        path=path,
    )


def call(change: Change, call: meta.Call, index: int) -> Found:
    path = Where(change.path, "calls", index)
    call_id = call.id
    if not call_id:
        return _missing_id(path)
    if call.direction == "BUSINESS_INITIATED":
        phone, bsuid, parent = call.to, call.to_user_id, call.to_parent_user_id
    else:
        phone, bsuid, parent = call.from_, call.from_user_id, call.from_parent_user_id
    phone, bsuid, parent, name, username, conflict = with_contacts(
        change.contacts, phone or "", bsuid or "", parent or "", path
    )
    if conflict is not None:
        return conflict
    return Appearance(
        event_type="call",
        business=change.business,
        natural_key=change.keyed(("call", call_id, call.event or "")),
        timestamp=call.timestamp,
        bsuid=bsuid,
        parent_bsuid=parent,
        phone=phone,
        name=name,
        username=username,
        message_id=call_id,
        message_status=call.event or "",
        path=path,
    )


def history(change: Change, chunk: meta.HistoryChunk, index: int) -> Iterator[Found]:
    """Lazily: a chunk may hold thousands of threads (their outputs never pile up)."""
    path = Where(change.path, "history", index)
    meta_ = chunk.metadata or _NO_HISTORY_METADATA
    chunk_key = f"{meta_.phase}:{meta_.chunk_order}"
    pnid = change.business.phone_number_id
    for thread_index, thread in enumerate(chunk.threads or ()):
        context = thread.context or _NO_CONTEXT
        phone = context.wa_id or ("" if context.user_id else thread.id or "")
        bsuid = context.user_id or ""
        # Messages without a usable time are passed over; a thread with none falls back
        # to the record's time rather than to 1970.
        newest = max(
            (t for m in thread.messages or () if (t := _as_int(m.timestamp)) is not None),
            default=None,
        )
        yield Appearance(
            event_type="history_thread",
            business=change.business,
            natural_key=change.keyed(("history", pnid, bsuid or phone, chunk_key)),
            timestamp=newest,
            bsuid=bsuid,
            parent_bsuid=context.parent_user_id or "",
            phone=phone,
            username=context.username or "",
            message_id=thread.id or "",
            path=Where(path, "threads", thread_index),
        )


def contact_sync(change: Change, item: meta.StateSyncItem, index: int) -> Found:
    contact = item.contact or _NO_CONTACT
    phone, bsuid = contact.phone_number or "", contact.user_id or ""
    timestamp = item.metadata.timestamp if item.metadata else None
    key = ("sync", change.business.phone_number_id, bsuid or phone, item.action or "")
    return Appearance(
        event_type="contact_sync",
        business=change.business,
        natural_key=change.keyed((*key, str(timestamp or ""))),
        timestamp=timestamp,
        bsuid=bsuid,
        parent_bsuid=contact.parent_user_id or "",
        # Entered by the business, so never attested (docs/providers.md).
        phone=phone,
        name=contact.full_name or None,
        username=contact.username or "",
        message_status=item.action or "",
        path=Where(change.path, "state_sync", index),
    )


def preference(change: Change, pref: meta.UserPreference, index: int) -> Found:
    path = Where(change.path, "user_preferences", index)
    own_phone, own_bsuid = pref.wa_id or "", pref.user_id or ""
    phone, bsuid, parent, name, username, conflict = with_contacts(
        change.contacts, own_phone, own_bsuid, "", path
    )
    if conflict is not None:
        return conflict
    # The item's own identifiers, not the union: the eventId of a webhook must not change
    # because of how its contacts are read (docs/schemas.md).
    key = ("preference", change.business.phone_number_id, own_bsuid or own_phone)
    return Appearance(
        event_type="preference_update",
        business=change.business,
        natural_key=change.keyed(
            (*key, pref.category or "", pref.value or "", str(pref.timestamp or ""))
        ),
        timestamp=pref.timestamp,
        bsuid=bsuid,
        parent_bsuid=parent,
        phone=phone,
        name=name,
        username=username,
        message_status=pref.value or "",
        path=path,
    )


def user_id_update(change: Change, update: meta.UserIdUpdate, index: int) -> Found:
    pair = update.user_id or _NO_PAIR
    key = ("user_id_update", change.business.phone_number_id, pair.previous or "")
    return Appearance(
        event_type="identity_change",
        business=change.business,
        natural_key=change.keyed((*key, pair.current or "", str(update.timestamp or ""))),
        timestamp=update.timestamp,
        bsuid=pair.current or "",
        phone=update.wa_id or "",
        previous_bsuid=pair.previous or "",
        message_status="user_id_update",
        path=Where(change.path, "user_id_update", index),
    )


def _missing_id(path: Where) -> ItemError:
    """Without its id an item has no natural key: every such item of a number would share one
    eventId, and consumers upserting by eventId would silently lose all but one."""
    return ItemError("schema_mismatch", f"Object missing required field `id` - at `{path}`")


def _requested_phone(cards: list[meta.SharedContact] | None) -> str:
    """The phone a customer shared on request; `other` cards are someone else's."""
    for card in cards or ():
        if card.origin in _CONTACT_REQUEST_ORIGINS:
            for phone in card.phones or ():
                if phone.wa_id or phone.phone:
                    return phone.wa_id or phone.phone or ""
    return ""


def _body_change(body: str | None) -> tuple[str, str]:
    """Older system messages only say "... changed from OLD to NEW" in their body."""
    match = _BODY_CHANGE.search(body or "")
    return (match.group(1), match.group(2)) if match else ("", "")


def _as_int(timestamp: str | int | None) -> int | None:
    if timestamp is None or timestamp == "":
        return None
    try:
        return int(timestamp)
    except ValueError:
        return None
