"""The customer-identity event published on the identity and dropped topics (docs/schemas.md).

Every field is always present (no `omit_defaults`): absent strings are `""`, absent objects
`null`. Wire names are camelCase; `class` is a Python keyword, hence the explicit name.
"""

from __future__ import annotations

from typing import Literal

import msgspec

SCHEMA_VERSION = "customer-identity/1"

EventType = Literal[
    "inbound_message",
    "delivery_status",
    "identity_change",
    "contact_shared",
    "message_echo",
    "call",
    "history_thread",
    "contact_sync",
    "preference_update",
]
IdentityClass = Literal["bsuid_only", "phone_and_bsuid", "phone_only"]
SourceFormat = Literal["meta", "connectly", "vonage", "wati"]
GateDecision = Literal["admit", "drop"]


class _EventPart(msgspec.Struct, frozen=True, kw_only=True, rename="camel", gc=False):
    """Shared options: immutable, camelCase on the wire, not tracked by the garbage collector
    (a tree of strings, see schemas.base); subclasses repeat `frozen` and `kw_only`."""


class Source(_EventPart, frozen=True, kw_only=True):
    format: SourceFormat
    topic: str
    partition: int
    offset: int


class Business(_EventPart, frozen=True, kw_only=True):
    scope: str
    number: str
    phone_number_id: str


class Customer(_EventPart, frozen=True, kw_only=True):
    id: str
    channel_type: str = "whatsapp"
    name: str | None
    user_id: str
    phone_number: str


class Identity(_EventPart, frozen=True, kw_only=True):
    class_: IdentityClass = msgspec.field(name="class")
    key: str
    bsuid: str
    parent_bsuid: str
    phone: str
    username: str
    country: str
    previous_bsuid: str
    phone_attested: bool


class Gate(_EventPart, frozen=True, kw_only=True):
    number_enabled: bool
    decision: GateDecision
    reason: str


class MessageRef(_EventPart, frozen=True, kw_only=True):
    id: str
    status: str


class Reach(_EventPart, frozen=True, kw_only=True):
    session_user_id: str
    template_to: str
    auth_templates: bool


class IdentityEvent(_EventPart, frozen=True, kw_only=True):
    schema: str = SCHEMA_VERSION
    event_id: str
    event_type: EventType
    occurred_at: str
    source: Source
    business: Business
    customer: Customer
    identity: Identity
    gate: Gate
    message: MessageRef
    reach: Reach


IDENTITY_EVENT_DECODER = msgspec.json.Decoder(IdentityEvent)
