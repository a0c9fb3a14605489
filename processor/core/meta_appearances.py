"""Meta Cloud API bodies -> customer appearances (docs/providers.md): the walk over entries and
changes; what one item says is `meta_items`.

A change of a field that holds no customer is a counted skip; a change whose value cannot be
decoded is that change's dead letter, and the changes beside it still count. The walk is lazy
per change (a history change may hold thousands of threads), and each field's items come as a
list (one message or one status, mostly: a list is cheaper than another generator).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import msgspec

from processor.core import meta_items as items
from processor.core.appearance import BusinessRef, Skipped, Where, change_path
from processor.core.meta_items import Change, Found
from processor.core.records import ItemError
from schemas import meta

__all__ = ["Skipped", "meta_appearances"]
_NO_METADATA = meta.Metadata()

ChangeHandler = Callable[[Change, meta.ChangeValue], Iterable[Found]]


def _messages(change: Change, value: meta.ChangeValue) -> list[Found]:
    found = [items.message(change, msg, i) for i, msg in enumerate(value.messages or ())]
    if value.statuses:
        for i, status in enumerate(value.statuses):
            found.append(items.status(change, status, i, "delivery_status"))
    return found


def _echoes(change: Change, value: meta.ChangeValue) -> list[Found]:
    return [items.echo(change, echo, i) for i, echo in enumerate(value.message_echoes or ())]


def _calls(change: Change, value: meta.ChangeValue) -> list[Found]:
    found = [items.call(change, call, i) for i, call in enumerate(value.calls or ())]
    for i, status in enumerate(value.statuses or ()):
        found.append(items.status(change, status, i, "call"))
    return found


def _history(change: Change, value: meta.ChangeValue) -> Iterator[Found]:
    for i, chunk in enumerate(value.history or ()):
        yield from items.history(change, chunk, i)


def _state_sync(change: Change, value: meta.ChangeValue) -> list[Found]:
    return [
        items.contact_sync(change, item, i)
        for i, item in enumerate(value.state_sync or ())
        if item.type == "contact"
    ]


def _preferences(change: Change, value: meta.ChangeValue) -> list[Found]:
    prefs = value.user_preferences or ()
    return [items.preference(change, pref, i) for i, pref in enumerate(prefs)]


def _user_id_updates(change: Change, value: meta.ChangeValue) -> list[Found]:
    updates = value.user_id_update or ()
    return [items.user_id_update(change, update, i) for i, update in enumerate(updates)]


def _standby(change: Change, value: meta.ChangeValue) -> list[Found]:
    standby = value.standby
    if standby is None:
        return []
    copy = Change(change.business, standby.contacts or value.contacts, change.path, standby=True)
    inner = meta.ChangeValue(
        messages=standby.messages, statuses=standby.statuses, message_echoes=standby.message_echoes
    )
    return [*_messages(copy, inner), *_echoes(copy, inner)]


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
            field = change.field or ""
            handler = CUSTOMER_FIELDS.get(field)
            if handler is None:
                yield Skipped("not_customer_field")
                continue
            if field == "standby" and not include_standby:
                yield Skipped("standby_ignored")
                continue
            path = change_path(e, c)
            value = _change_value(change.value, path)
            if isinstance(value, ItemError):
                yield value
                continue
            metadata = value.metadata or _NO_METADATA
            business = BusinessRef(
                format="meta",
                number=metadata.display_phone_number or "",
                phone_number_id=metadata.phone_number_id or "",
                waba_id=entry.id or "",
            )
            yield from handler(Change(business, value.contacts, path), value)
