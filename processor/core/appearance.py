"""A customer appearance as found in a webhook, before any identifier is validated."""

from __future__ import annotations

import msgspec

from schemas.identity import EventType, SourceFormat


class BusinessRef(msgspec.Struct, frozen=True, kw_only=True):
    """The business number as the webhook names it (raw, not yet checked)."""

    format: SourceFormat
    number: str = ""
    phone_number_id: str = ""
    #: Meta's WABA id: the scope of a number the registry does not know.
    waba_id: str = ""


class Appearance(msgspec.Struct, frozen=True, kw_only=True):
    """One customer appearance: becomes one identity event or one item error.

    Identifier fields hold the raw strings; `""` means absent.
    """

    event_type: EventType
    business: BusinessRef
    #: Natural key parts the eventId is derived from (CONTRACT 5): never Kafka offsets.
    natural_key: tuple[str, ...]
    timestamp: str | int | None
    bsuid: str = ""
    parent_bsuid: str = ""
    phone: str = ""
    previous_bsuid: str = ""
    name: str | None = None
    username: str = ""
    #: The customer shared this phone through a contact request (CONTRACT 2.1).
    phone_attested: bool = False
    message_id: str = ""
    message_status: str = ""
    #: Where in the body the appearance is, for dead-letter messages.
    path: str = "$"
