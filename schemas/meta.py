"""Meta WhatsApp Cloud API webhooks: only the fields the identity pipeline reads.

A change's `value` stays raw until its `field` says it is a customer field (docs/providers.md):
other fields (template status, account updates, ...) are counted and skipped without ever
being decoded, and a schema error in one change does not hide the valid ones beside it.
"""

from __future__ import annotations

import msgspec

from schemas.base import WebhookStruct


class Metadata(WebhookStruct, frozen=True, kw_only=True):
    display_phone_number: str | None = None
    phone_number_id: str | None = None


class Profile(WebhookStruct, frozen=True, kw_only=True):
    name: str | None = None
    username: str | None = None


class Contact(WebhookStruct, frozen=True, kw_only=True):
    """`value.contacts[]`: the customer's profile, matched to an item by identifier."""

    profile: Profile | None = None
    wa_id: str | None = None
    user_id: str | None = None
    parent_user_id: str | None = None


class SystemChange(WebhookStruct, frozen=True, kw_only=True):
    """`messages[].system` of a `system` message: a customer's number or BSUID changed."""

    type: str | None = None
    body: str | None = None
    wa_id: str | None = None
    new_wa_id: str | None = None
    customer: str | None = None
    user_id: str | None = None
    previous_user_id: str | None = None
    parent_user_id: str | None = None
    previous_parent_user_id: str | None = None


class SharedPhone(WebhookStruct, frozen=True, kw_only=True):
    phone: str | None = None
    wa_id: str | None = None


class SharedContact(WebhookStruct, frozen=True, kw_only=True):
    """A contact card inside a `contacts` message."""

    origin: str | None = None
    phones: list[SharedPhone] | None = None


class Message(WebhookStruct, frozen=True, kw_only=True):
    from_: str | None = msgspec.field(default=None, name="from")
    from_user_id: str | None = None
    from_parent_user_id: str | None = None
    id: str | None = None
    timestamp: str | int | None = None
    type: str | None = None
    system: SystemChange | None = None
    contacts: list[SharedContact] | None = None


class Status(WebhookStruct, frozen=True, kw_only=True):
    """A message status, also the shape of call statuses."""

    id: str | None = None
    status: str | None = None
    timestamp: str | int | None = None
    recipient_id: str | None = None
    recipient_type: str | None = None
    recipient_participant_id: str | None = None
    recipient_participant_user_id: str | None = None
    recipient_user_id: str | None = None
    recipient_parent_user_id: str | None = None
    # Older names of the parent BSUID field.
    parent_recipient_user_id: str | None = None
    parent_user_id: str | None = None


class SentRequest(WebhookStruct, frozen=True, kw_only=True):
    """The request body a standby echo carries: the customer is `to` or `recipient`."""

    to: str | None = None
    recipient: str | None = None
    type: str | None = None


class Echo(WebhookStruct, frozen=True, kw_only=True):
    """`smb_message_echoes`: a message the business sent; the customer is `to`."""

    from_: str | None = msgspec.field(default=None, name="from")
    to: str | None = None
    to_user_id: str | None = None
    to_parent_user_id: str | None = None
    id: str | None = None
    timestamp: str | int | None = None
    type: str | None = None
    message: SentRequest | None = None


class Call(WebhookStruct, frozen=True, kw_only=True):
    id: str | None = None
    event: str | None = None
    timestamp: str | int | None = None
    direction: str | None = None
    from_: str | None = msgspec.field(default=None, name="from")
    from_user_id: str | None = None
    from_parent_user_id: str | None = None
    to: str | None = None
    to_user_id: str | None = None
    to_parent_user_id: str | None = None


class ThreadContext(WebhookStruct, frozen=True, kw_only=True):
    wa_id: str | None = None
    user_id: str | None = None
    parent_user_id: str | None = None
    username: str | None = None


class HistoryMessage(WebhookStruct, frozen=True, kw_only=True):
    """Only the time is read: a history message's `from_user_id` is no evidence of the sender."""

    timestamp: str | int | None = None


class HistoryThread(WebhookStruct, frozen=True, kw_only=True):
    id: str | None = None
    context: ThreadContext | None = None
    messages: list[HistoryMessage] | None = None


class HistoryChunkMetadata(WebhookStruct, frozen=True, kw_only=True):
    phase: int | None = None
    chunk_order: int | None = None
    progress: int | None = None


class HistoryChunk(WebhookStruct, frozen=True, kw_only=True):
    metadata: HistoryChunkMetadata | None = None
    threads: list[HistoryThread] | None = None


class SyncedContact(WebhookStruct, frozen=True, kw_only=True):
    phone_number: str | None = None
    user_id: str | None = None
    parent_user_id: str | None = None
    username: str | None = None
    full_name: str | None = None


class SyncMetadata(WebhookStruct, frozen=True, kw_only=True):
    timestamp: str | int | None = None


class StateSyncItem(WebhookStruct, frozen=True, kw_only=True):
    type: str | None = None
    contact: SyncedContact | None = None
    action: str | None = None
    metadata: SyncMetadata | None = None


class UserPreference(WebhookStruct, frozen=True, kw_only=True):
    wa_id: str | None = None
    user_id: str | None = None
    category: str | None = None
    value: str | None = None
    timestamp: str | int | None = None


class UserIdPair(WebhookStruct, frozen=True, kw_only=True):
    previous: str | None = None
    current: str | None = None


class UserIdUpdate(WebhookStruct, frozen=True, kw_only=True):
    """An item of the retired `user_id_update` field."""

    wa_id: str | None = None
    user_id: UserIdPair | None = None
    timestamp: str | int | None = None


class Standby(WebhookStruct, frozen=True, kw_only=True):
    """`value.standby`: a copy seen while another app is the active handler."""

    messages: list[Message] | None = None
    contacts: list[Contact] | None = None
    message_echoes: list[Echo] | None = None
    statuses: list[Status] | None = None


class ChangeValue(WebhookStruct, frozen=True, kw_only=True):
    """`changes[].value` of every customer field; each field fills its own list."""

    metadata: Metadata | None = None
    contacts: list[Contact] | None = None
    messages: list[Message] | None = None
    statuses: list[Status] | None = None
    message_echoes: list[Echo] | None = None
    calls: list[Call] | None = None
    history: list[HistoryChunk] | None = None
    state_sync: list[StateSyncItem] | None = None
    user_preferences: list[UserPreference] | None = None
    user_id_update: list[UserIdUpdate] | None = None
    standby: Standby | None = None


class Change(WebhookStruct, frozen=True, kw_only=True):
    field: str | None = None
    #: Empty when the field is missing; decoded only for customer fields.
    value: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)


class Entry(WebhookStruct, frozen=True, kw_only=True):
    id: str | None = None
    changes: list[Change] | None = None


CHANGE_VALUE_DECODER = msgspec.json.Decoder(ChangeValue)


class TypedChange(WebhookStruct, frozen=True, kw_only=True):
    """A change decoded in the same pass as its body: the fast path for well-formed bodies."""

    field: str | None = None
    value: ChangeValue | None = None


class TypedEntry(WebhookStruct, frozen=True, kw_only=True):
    id: str | None = None
    changes: list[TypedChange] | None = None
