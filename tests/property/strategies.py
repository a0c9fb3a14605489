"""Hypothesis strategies: JSON values, webhook-shaped bodies and mutations of real samples."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

# Field names of every format: generated objects use them often, so random values reach the
# code that reads them instead of being skipped as unknown fields.
FIELD_NAMES = [
    "object", "entry", "id", "changes", "field", "value", "metadata", "display_phone_number",
    "phone_number_id", "contacts", "profile", "name", "username", "wa_id", "user_id",
    "parent_user_id", "messages", "from", "from_user_id", "from_parent_user_id", "timestamp",
    "type", "system", "body", "previous_user_id", "statuses", "status", "recipient_id",
    "recipient_type", "recipient_participant_id", "recipient_participant_user_id",
    "recipient_user_id", "recipient_parent_user_id", "message_echoes", "to", "to_user_id",
    "calls", "event", "direction", "history", "threads", "context", "state_sync", "contact",
    "phone_number", "action", "user_preferences", "category", "standby", "message", "recipient",
    "origin", "phones", "phone", "topic", "sender", "channelType", "userId", "phoneNumber",
    "statusUpdate", "user_id_update", "previous", "current", "chunk_order", "phase",
    # Vonage
    "message_uuid", "channel", "whatsapp", "usage", "message_type", "text",
    # WATI
    "eventType", "whatsappMessageId", "waId", "bsuid", "parentBsuid", "senderName",
    "channelPhoneNumber", "owner",
]  # fmt: skip
CUSTOMER_FIELDS = [
    "messages", "smb_message_echoes", "calls", "history", "smb_app_state_sync",
    "user_preferences", "user_id_update", "standby", "account_update",
]  # fmt: skip

GARBAGE = [
    "", " ", "null", "US.", "US.ENT.1", "us.123", "U S.1", "US.1 ", "US." + "9" * 257,
    "US." + "a" * 200, "US.7301846620193748112", "IN.ENT.1029384756102938475", "+", "++1",
    "1-800-FLOWERS", "12", "14155550123", "+14155550123", "+15551230001", "15551230002",
    "200000000000001", "١٤١٥٥٥٥٠١٢٣", "\u0000", "\ud7ff", "😀", "a" * 5000, "-1", "1e400",
    "99999999999999999999999", "9" * 5000, "changed from US.1 to US.2", "group", "system",
    "contacts", "contact_request", "request_contact_info", "BUSINESS_INITIATED",
    "delivery_status", "whatsapp_business_account", "whatsapp", "sms", "message_bsuid",
    "US.ENT.11815799212886844830", "2026-06-21T00:20:00Z", "2026-13-45T99:00:00Z", "@bob",
]  # fmt: skip

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(GARBAGE)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=15,
)


identifier = st.sampled_from(GARBAGE) | json_values


@st.composite
def webhook_shaped(draw: st.DrawFn) -> Any:
    """A Meta, Connectly, Vonage or WATI body whose insides are arbitrary."""
    kind = draw(st.sampled_from(["meta", "connectly", "vonage", "wati"]))
    if kind == "vonage":
        return {
            "message_uuid": draw(st.sampled_from(["u-1", ""]) | json_values),
            "channel": draw(st.sampled_from(["whatsapp", "sms"]) | json_values),
            "to": draw(identifier),
            "from": draw(identifier),
            "timestamp": draw(st.sampled_from(["2026-06-21T00:20:00Z", "x"]) | json_values),
            "status": draw(st.sampled_from([None, "read", "delivered"]) | json_values),
            "profile": draw(json_values),
            "whatsapp": {"recipient": draw(json_values)}
            if draw(st.booleans())
            else draw(json_values),
        }
    if kind == "wati":
        return {
            "eventType": draw(st.sampled_from(["message_bsuid", "message"]) | json_values),
            "whatsappMessageId": draw(st.sampled_from(["wamid.W"]) | json_values),
            "timestamp": draw(st.sampled_from(["1782000000", 1782000000]) | json_values),
            "waId": draw(identifier),
            "bsuid": draw(identifier),
            "parentBsuid": draw(identifier),
            "owner": draw(st.booleans() | json_values),
            "channelPhoneNumber": draw(st.sampled_from(["15551230001"]) | json_values),
            "username": draw(json_values),
        }
    if kind == "meta":
        changes = draw(
            st.lists(
                st.fixed_dictionaries(
                    {"field": st.sampled_from(CUSTOMER_FIELDS) | json_values, "value": json_values}
                ),
                max_size=3,
            )
        )
        return {
            "object": draw(st.just("whatsapp_business_account") | json_values),
            "entry": [{"id": draw(st.text(max_size=15) | json_values), "changes": changes}],
        }
    return {
        "topic": draw(st.sampled_from([None, "messages", "delivery_status"]) | json_values),
        "timestamp": draw(st.sampled_from(["1782000000", 1782000000, None]) | json_values),
        "sender": draw(json_values),
        "recipient": draw(json_values),
        "statusUpdate": draw(json_values),
    }


# --- mutations of real bodies -------------------------------------------------------------------

Path = tuple[str | int, ...]
RAW = "@@RAW{}@@"


def all_paths(node: Any, prefix: Path = ()) -> list[Path]:
    found: list[Path] = []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, child in items:
        found.append((*prefix, key))
        found.extend(all_paths(child, (*prefix, key)))
    return found


def parent_of(doc: Any, path: Path) -> Any:
    node = doc
    for part in path[:-1]:
        node = node[part]
    return node


def retype(value: Any) -> Any:
    if isinstance(value, str):
        return int(value) if value.isdigit() and len(value) < 100 else [value]
    if isinstance(value, bool) or value is None:
        return "true" if value else ""
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    return None


# Weighted: string edits and drops are what real bodies get wrong most.
OPERATIONS = [
    *["garbage"] * 3, *["swap"] * 2, *["drop"] * 2, "replace", "retype", "duplicate", "nest",
    "bigint", "utf8",
]  # fmt: skip
TYPED_OPERATIONS = [*["garbage"] * 4, *["swap"] * 2, "drop", "duplicate", "utf8"]


@st.composite
def mutated(draw: st.DrawFn, bodies: dict[str, bytes], *, typed: bool = False) -> bytes:
    """A real sample body with a few random edits, re-encoded (possibly with raw byte tricks).

    `typed` keeps every field's JSON type (strings stay strings), so the edits get past the
    schema and reach identity validation, the gate and the keys.
    """
    name = draw(st.sampled_from(sorted(bodies)))
    doc = json.loads(bodies[name])
    raws: list[bytes] = []
    utf8: list[bytes] = []
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = all_paths(doc)
        op = draw(st.sampled_from(TYPED_OPERATIONS if typed else OPERATIONS))
        if op in ("garbage", "swap", "utf8"):
            # Edit strings in place of strings: the body keeps its schema.
            paths = [p for p in paths if isinstance(parent_of(doc, p)[p[-1]], str)] or paths
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = parent_of(doc, path), path[-1]
        if op == "drop":
            del parent[key]
        elif op == "replace":
            parent[key] = draw(json_values)
        elif op == "retype":
            parent[key] = retype(parent[key])
        elif op == "swap":
            other = draw(st.sampled_from(paths))
            if other[: len(path)] != path and path[: len(other)] != other:
                other_parent = parent_of(doc, other)
                parent[key], other_parent[other[-1]] = other_parent[other[-1]], parent[key]
        elif op == "garbage":
            parent[key] = draw(st.sampled_from(GARBAGE) | st.text(max_size=40))
        elif op == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
        elif op == "nest":
            depth = draw(st.sampled_from([2, 50, 200, 900, 990, 1000, 1010, 3000, 50_000]))
            raws.append(b"[" * depth + b"]" * depth)
            parent[key] = RAW.format(len(raws) - 1)
        elif op == "bigint":
            digits = draw(st.sampled_from([19, 20, 40, 400, 4400, 6000]))
            sign = draw(st.sampled_from([b"", b"-"]))
            raws.append(sign + b"1" + b"0" * digits)
            parent[key] = RAW.format(len(raws) - 1)
        elif op == "utf8":
            bad = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]))
            utf8.append(bad)
            parent[key] = "x" + RAW.format(f"U{len(utf8) - 1}") + "y"
    encoded = json.dumps(doc, ensure_ascii=draw(st.booleans())).encode()
    for i, raw in enumerate(raws):
        encoded = encoded.replace(f'"{RAW.format(i)}"'.encode(), raw)
    for i, bad in enumerate(utf8):
        encoded = encoded.replace(RAW.format(f"U{i}").encode(), bad)
    return encoded
