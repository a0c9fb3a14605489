"""A customer appearance as found in a webhook, before any identifier is validated."""

from __future__ import annotations

import msgspec

from processor.core.records import SkipReason
from schemas.identity import EventType, SourceFormat


class Where(msgspec.Struct, frozen=True, gc=False):
    """Where an item sits in a body, e.g. `$.entry[0].changes[1].value.messages[2]`.

    Built for every item but rendered only for a dead-letter message, so it stays a cheap
    chain of (parent, name, index) instead of a formatted string. A Struct: a third of the
    cost of a class with `__init__`, and it cannot form a cycle (a parent is made first).
    """

    parent: Where | str
    name: str
    index: int | None = None

    def __str__(self) -> str:
        if self.index is None:
            return f"{self.parent}.{self.name}"
        return f"{self.parent}.{self.name}[{self.index}]"


def change_path(entry: int, change: int) -> Where:
    """`$.entry[<entry>].changes[<change>].value`"""
    if entry < _TABLE_SIZE and change < _TABLE_SIZE:
        return _CHANGE_PATHS[entry][change]
    return _change_path(entry, change)


def _change_path(entry: int, change: int) -> Where:
    return Where(Where(Where("$", "entry", entry), "changes", change), "value")


#: Paths of the first changes of the first entries, made once: nearly every body has one.
_TABLE_SIZE = 8
_CHANGE_PATHS = tuple(
    tuple(_change_path(entry, change) for change in range(_TABLE_SIZE))
    for entry in range(_TABLE_SIZE)
)


class BusinessRef(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The business number as the webhook names it (raw, not yet checked)."""

    format: SourceFormat
    number: str = ""
    phone_number_id: str = ""
    #: Meta's WABA id: the scope of a number the registry does not know.
    waba_id: str = ""


class Appearance(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One customer appearance: becomes one identity event or one item error.

    Identifier fields hold the raw strings; `""` means absent.
    """

    event_type: EventType
    business: BusinessRef
    #: Natural key parts the eventId is derived from (docs/schemas.md): never Kafka offsets.
    natural_key: tuple[str, ...]
    timestamp: str | int | None
    bsuid: str = ""
    parent_bsuid: str = ""
    phone: str = ""
    previous_bsuid: str = ""
    name: str | None = None
    username: str = ""
    #: The customer shared this phone through a contact request (docs/providers.md).
    phone_attested: bool = False
    message_id: str = ""
    message_status: str = ""
    #: Where in the body the appearance is, for dead-letter messages.
    path: Where | str = "$"


class Skipped(msgspec.Struct, frozen=True, gc=False):
    """A part of a body that holds no customer (docs/providers.md: counted, not dead-lettered):
    a Meta change of another field, a WATI event of another type, a Vonage message of another
    channel. `reason` is the skip counter's label."""

    reason: SkipReason
