"""Meta appearance kinds whose change repeats the customer in `contacts[]` (docs/providers.md):
one table for the unit and property tests of the contact union."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

A_META = {"display_phone_number": "15551230001", "phone_number_id": "200000000000001"}
PHONE, OTHER_PHONE = "14155550123", "447700900123"
BSUID, OTHER_BSUID = "US.7301846620193748112", "US.5518290017364528190"
PARENT, OTHER_PARENT = "US.ENT.11815799212886844830", "US.ENT.99"


@dataclass(frozen=True)
class Kind:
    """Where one appearance kind sits in a body and what it calls the customer's identifiers."""

    field: str
    array: str
    #: The item's (phone, BSUID, parent BSUID) field names; "" where the item has none.
    names: tuple[str, str, str]
    rest: dict[str, Any]
    event_type: str
    standby: bool = False

    def body(self, ids: tuple[str, str, str], contacts: list[dict[str, Any]]) -> Any:
        item = dict(self.rest)
        for name, found in zip(self.names, ids, strict=True):
            if found:
                assert name, f"{self.array} items carry no such identifier"
                item[name] = found
        arrays: dict[str, Any] = {self.array: [item], "contacts": contacts}
        value: dict[str, Any] = {"messaging_product": "whatsapp", "metadata": A_META}
        value |= {"standby": arrays} if self.standby else arrays
        change = {"field": self.field, "value": value}
        return {"object": "whatsapp_business_account", "entry": [{"id": "3", "changes": [change]}]}


MESSAGE = ("from", "from_user_id", "from_parent_user_id")
RECIPIENT = ("recipient_id", "recipient_user_id", "recipient_parent_user_id")
TO = ("to", "to_user_id", "to_parent_user_id")
TEXT = {"id": "wamid.U1", "timestamp": "1782000000", "type": "text", "text": {"body": "hi"}}
STATUS = {"id": "wamid.U2", "status": "delivered", "timestamp": "1782000000"}
ECHO = {"from": "15551230001", "id": "wamid.U3", "timestamp": "1782000000", "type": "text"}
CALL = {"id": "wacid.U4", "event": "connect", "timestamp": "1782000000"}
PREFERENCE = {"category": "marketing_messages", "value": "stop", "timestamp": "1782000000"}
CARD = {"origin": "contact_request", "phones": [{"phone": "+1 415 555 0123", "wa_id": PHONE}]}

KINDS = {
    "message": Kind("messages", "messages", MESSAGE, TEXT, "inbound_message"),
    "contact_shared": Kind(
        "messages",
        "messages",
        MESSAGE,
        {**TEXT, "type": "contacts", "contacts": [CARD]},
        "contact_shared",
    ),
    "status": Kind("messages", "statuses", RECIPIENT, STATUS, "delivery_status"),
    "echo": Kind("smb_message_echoes", "message_echoes", TO, ECHO, "message_echo"),
    "call_user": Kind("calls", "calls", MESSAGE, {**CALL, "direction": "USER_INITIATED"}, "call"),
    "call_business": Kind(
        "calls", "calls", TO, {**CALL, "direction": "BUSINESS_INITIATED"}, "call"
    ),
    "call_status": Kind("calls", "statuses", RECIPIENT, STATUS, "call"),
    "preference": Kind(
        "user_preferences",
        "user_preferences",
        ("wa_id", "user_id", ""),
        PREFERENCE,
        "preference_update",
    ),
    "standby_message": Kind("standby", "messages", MESSAGE, TEXT, "inbound_message", True),
    "standby_status": Kind("standby", "statuses", RECIPIENT, STATUS, "delivery_status", True),
    "standby_echo": Kind("standby", "message_echoes", TO, ECHO, "message_echo", True),
}
WITH_PARENT = sorted(name for name, kind in KINDS.items() if kind.names[2])


def contact(phone: str = "", bsuid: str = "", parent: str = "", name: str = "Ana") -> Any:
    ids = {"wa_id": phone, "user_id": bsuid, "parent_user_id": parent}
    return {"profile": {"name": name, "username": "ana.r"}} | {k: v for k, v in ids.items() if v}
