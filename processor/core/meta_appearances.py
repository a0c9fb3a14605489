"""Meta Cloud API bodies -> customer appearances (CONTRACT 2.1, 2.2).

The customer is always the other party: `from` on inbound messages and user-initiated calls,
`to` on echoes and business-initiated calls, the recipient (or group participant) on
statuses, the thread context in history, the synced contact.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence

import msgspec

from processor.core.appearance import Appearance, BusinessRef, Skipped, Where, change_path
from processor.core.bsuid import looks_like_bsuid
from processor.core.records import ItemError
from processor.core.union import bsuid_union, parent_union, phone_union
from schemas import meta
from schemas.identity import EventType

Found = Appearance | ItemError
__all__ = ["Skipped", "meta_appearances"]
_CONTACT_REQUEST_ORIGINS = frozenset({"contact_request", "request_contact_info"})
_BODY_CHANGE = re.compile(r"changed from (\S+) to (\S+)")


#: (phone, BSUID, parent BSUID, profile name, username, conflict) of one customer
#: appearance; `conflict` is the item's dead letter when its identifiers disagree.
Customer = tuple[str, str, str, str | None, str, ItemError | None]


def _with_contacts(
    contacts: list[meta.Contact] | None, phone: str, bsuid: str, parent: str, path: Where
) -> Customer:
    """The item's identifiers united with those of its `contacts[]` entries (CONTRACT 2.1),
    and the profile of the first matching contact.

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


class _Change:
    """One customer change of a body: its business, contacts and where it sits."""

    __slots__ = ("business", "contacts", "path", "pnid", "standby")

    def __init__(self, business: BusinessRef, value: meta.ChangeValue, path: Where) -> None:
        self.business = business
        self.pnid = business.phone_number_id
        self.contacts = value.contacts
        self.path = path
        self.standby = False

    def key(self, *parts: str | None) -> tuple[str, ...]:
        key = tuple([part or "" for part in parts])  # a list, not a generator: 3x quicker
        return (*key, "standby") if self.standby else key

    def message(self, msg: meta.Message, path: Where) -> Found:
        if not msg.id:
            return _missing_id(path)
        if msg.type == "system" and msg.system is not None:
            return self._system(msg, msg.system, path)
        phone, bsuid, parent, name, username, conflict = _with_contacts(
            self.contacts,
            msg.from_ or "",
            msg.from_user_id or "",
            msg.from_parent_user_id or "",
            path,
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
            business=self.business,
            natural_key=self.key("message", msg.id, self.pnid),
            timestamp=msg.timestamp,
            bsuid=bsuid,
            parent_bsuid=parent,
            phone=phone,
            name=name,
            username=username,
            phone_attested=attested,
            message_id=msg.id or "",
            message_status="received",
            path=path,
        )

    def _system(self, msg: meta.Message, system: meta.SystemChange, path: Where) -> Found:
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
            business=self.business,
            natural_key=self.key("system", msg.id),
            timestamp=msg.timestamp,
            bsuid=bsuid,
            parent_bsuid=system.parent_user_id or "",
            phone=phone,
            previous_bsuid=previous,
            message_id=msg.id or "",
            message_status=system.type or "",
            path=path,
        )

    def status(self, status: meta.Status, path: Where, event_type: EventType) -> Found:
        if not status.id:
            return _missing_id(path)
        kind = "status" if event_type == "delivery_status" else "call"
        if status.recipient_type == "group":
            # The recipient is the group: the customer is the participant. Every participant
            # gets the same status id, so the participant is part of the natural key.
            phone = status.recipient_participant_id or ""
            bsuid = status.recipient_participant_user_id or ""
            key = self.key(kind, status.id, status.status, phone or bsuid)
        else:
            phone, bsuid = status.recipient_id or "", status.recipient_user_id or ""
            key = self.key(kind, status.id, status.status)
        parent = (
            status.recipient_parent_user_id
            or status.parent_recipient_user_id
            or status.parent_user_id
            or ""
        )
        phone, bsuid, parent, name, username, conflict = _with_contacts(
            self.contacts, phone, bsuid, parent, path
        )
        if conflict is not None:
            return conflict
        return Appearance(
            event_type=event_type,
            business=self.business,
            natural_key=key,
            timestamp=status.timestamp,
            bsuid=bsuid,
            parent_bsuid=parent,
            phone=phone,
            name=name,
            username=username,
            message_id=status.id or "",
            message_status=status.status or "",
            path=path,
        )

    def echo(self, echo: meta.Echo, path: Where) -> Found:
        if not echo.id:
            return _missing_id(path)
        phone, bsuid = echo.to or "", echo.to_user_id or ""
        if echo.message is not None and not (phone or bsuid):
            # Standby echoes carry the sent request: its recipient may be a phone or a BSUID.
            recipient = echo.message.to or echo.message.recipient or ""
            if looks_like_bsuid(recipient):
                bsuid = recipient
            else:
                phone = recipient
        phone, bsuid, parent, name, username, conflict = _with_contacts(
            self.contacts, phone, bsuid, echo.to_parent_user_id or "", path
        )
        if conflict is not None:
            return conflict
        return Appearance(
            event_type="message_echo",
            business=self.business,
            natural_key=self.key("echo", echo.id, self.pnid),
            timestamp=echo.timestamp,
            bsuid=bsuid,
            parent_bsuid=parent,
            phone=phone,
            name=name,
            username=username,
            message_id=echo.id or "",
            # The echo's type tells a sent message from a `revoke` or an `edit`.
            message_status=echo.type or (echo.message.type if echo.message else None) or "",
            path=path,
        )

    def call(self, call: meta.Call, path: Where) -> Found:
        if not call.id:
            return _missing_id(path)
        if call.direction == "BUSINESS_INITIATED":
            phone, bsuid, parent = call.to, call.to_user_id, call.to_parent_user_id
        else:
            phone, bsuid, parent = call.from_, call.from_user_id, call.from_parent_user_id
        phone, bsuid, parent, name, username, conflict = _with_contacts(
            self.contacts, phone or "", bsuid or "", parent or "", path
        )
        if conflict is not None:
            return conflict
        return Appearance(
            event_type="call",
            business=self.business,
            natural_key=self.key("call", call.id, call.event),
            timestamp=call.timestamp,
            bsuid=bsuid,
            parent_bsuid=parent,
            phone=phone,
            name=name,
            username=username,
            message_id=call.id or "",
            message_status=call.event or "",
            path=path,
        )

    def history(self, chunk: meta.HistoryChunk, path: Where) -> Iterator[Found]:
        meta_ = chunk.metadata or meta.HistoryChunkMetadata()
        chunk_key = f"{meta_.phase}:{meta_.chunk_order}"
        for index, thread in enumerate(chunk.threads or ()):
            context = thread.context or meta.ThreadContext()
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
                business=self.business,
                natural_key=self.key("history", self.pnid, bsuid or phone, chunk_key),
                timestamp=newest,
                bsuid=bsuid,
                parent_bsuid=context.parent_user_id or "",
                phone=phone,
                username=context.username or "",
                message_id=thread.id or "",
                path=Where(path, "threads", index),
            )

    def contact_sync(self, item: meta.StateSyncItem, path: Where) -> Found:
        contact = item.contact or meta.SyncedContact()
        phone, bsuid = contact.phone_number or "", contact.user_id or ""
        timestamp = item.metadata.timestamp if item.metadata else None
        return Appearance(
            event_type="contact_sync",
            business=self.business,
            natural_key=self.key(
                "sync", self.pnid, bsuid or phone, item.action, str(timestamp or "")
            ),
            timestamp=timestamp,
            bsuid=bsuid,
            parent_bsuid=contact.parent_user_id or "",
            # Entered by the business, so never attested (CONTRACT 2.2).
            phone=phone,
            name=contact.full_name or None,
            username=contact.username or "",
            message_status=item.action or "",
            path=path,
        )

    def preference(self, pref: meta.UserPreference, path: Where) -> Found:
        own_phone, own_bsuid = pref.wa_id or "", pref.user_id or ""
        phone, bsuid, parent, name, username, conflict = _with_contacts(
            self.contacts, own_phone, own_bsuid, "", path
        )
        if conflict is not None:
            return conflict
        return Appearance(
            event_type="preference_update",
            business=self.business,
            # The item's own identifiers, not the union: the eventId of a webhook must not
            # change because of how its contacts are read (CONTRACT 5).
            natural_key=self.key(
                "preference",
                self.pnid,
                own_bsuid or own_phone,
                pref.category,
                pref.value,
                str(pref.timestamp or ""),
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

    def user_id_update(self, update: meta.UserIdUpdate, path: Where) -> Found:
        pair = update.user_id or meta.UserIdPair()
        return Appearance(
            event_type="identity_change",
            business=self.business,
            natural_key=self.key(
                "user_id_update",
                self.pnid,
                pair.previous,
                pair.current,
                str(update.timestamp or ""),
            ),
            timestamp=update.timestamp,
            bsuid=pair.current or "",
            phone=update.wa_id or "",
            previous_bsuid=pair.previous or "",
            message_status="user_id_update",
            path=path,
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


ChangeHandler = Callable[[_Change, meta.ChangeValue], Iterator[Found]]


def _messages(change: _Change, value: meta.ChangeValue) -> Iterator[Found]:
    for i, msg in enumerate(value.messages or ()):
        yield change.message(msg, Where(change.path, "messages", i))
    for i, status in enumerate(value.statuses or ()):
        yield change.status(status, Where(change.path, "statuses", i), "delivery_status")


def _echoes(change: _Change, value: meta.ChangeValue) -> Iterator[Found]:
    for i, echo in enumerate(value.message_echoes or ()):
        yield change.echo(echo, Where(change.path, "message_echoes", i))


def _calls(change: _Change, value: meta.ChangeValue) -> Iterator[Found]:
    for i, call in enumerate(value.calls or ()):
        yield change.call(call, Where(change.path, "calls", i))
    for i, status in enumerate(value.statuses or ()):
        yield change.status(status, Where(change.path, "statuses", i), "call")


def _history(change: _Change, value: meta.ChangeValue) -> Iterator[Found]:
    for i, chunk in enumerate(value.history or ()):
        yield from change.history(chunk, Where(change.path, "history", i))


def _state_sync(change: _Change, value: meta.ChangeValue) -> Iterator[Found]:
    for i, item in enumerate(value.state_sync or ()):
        if item.type == "contact":
            yield change.contact_sync(item, Where(change.path, "state_sync", i))


def _preferences(change: _Change, value: meta.ChangeValue) -> Iterator[Found]:
    for i, pref in enumerate(value.user_preferences or ()):
        yield change.preference(pref, Where(change.path, "user_preferences", i))


def _user_id_updates(change: _Change, value: meta.ChangeValue) -> Iterator[Found]:
    for i, update in enumerate(value.user_id_update or ()):
        yield change.user_id_update(update, Where(change.path, "user_id_update", i))


def _standby(change: _Change, value: meta.ChangeValue) -> Iterator[Found]:
    standby = value.standby
    if standby is None:
        return
    change.standby = True
    change.contacts = standby.contacts or value.contacts
    inner = meta.ChangeValue(
        messages=standby.messages, statuses=standby.statuses, message_echoes=standby.message_echoes
    )
    yield from _messages(change, inner)
    yield from _echoes(change, inner)


CUSTOMER_FIELDS: dict[str, ChangeHandler] = {
    "messages": _messages,
    "smb_message_echoes": _echoes,
    "calls": _calls,
    "history": _history,
    "smb_app_state_sync": _state_sync,
    "user_preferences": _preferences,
    "user_id_update": _user_id_updates,
    "standby": _standby,
}


def _change_value(
    raw: msgspec.Raw | meta.ChangeValue | None, path: Where
) -> meta.ChangeValue | ItemError:
    """The change's value: already decoded on the fast path, decoded here on the slow one."""
    if isinstance(raw, meta.ChangeValue):
        return raw
    if not raw:
        return ItemError("schema_mismatch", f"missing value at {path}")
    try:
        return meta.CHANGE_VALUE_DECODER.decode(raw)
    except msgspec.ValidationError as exc:
        return ItemError("schema_mismatch", f"{exc} (in {path})")
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        # The envelope only skipped this value: invalid UTF-8 or too deep a nesting shows up
        # when it is decoded for real.
        return ItemError("invalid_json", f"{exc} (in {path})")


def meta_appearances(
    entries: Sequence[meta.Entry | meta.TypedEntry], *, include_standby: bool
) -> Iterator[Found | Skipped]:
    """Every customer appearance of a Meta body, in body order; errors are yielded, not raised."""
    for e, entry in enumerate(entries):
        changes: Sequence[meta.Change | meta.TypedChange] = entry.changes or ()
        for c, change in enumerate(changes):
            path = change_path(e, c)
            handler = CUSTOMER_FIELDS.get(change.field or "")
            if handler is None:
                yield Skipped("not_customer_field")
                continue
            if change.field == "standby" and not include_standby:
                yield Skipped("standby_ignored")
                continue
            value = _change_value(change.value, path)
            if isinstance(value, ItemError):
                yield value
                continue
            meta_ = value.metadata or meta.Metadata()
            business = BusinessRef(
                format="meta",
                number=meta_.display_phone_number or "",
                phone_number_id=meta_.phone_number_id or "",
                waba_id=entry.id or "",
            )
            yield from handler(_Change(business, value, path), value)
