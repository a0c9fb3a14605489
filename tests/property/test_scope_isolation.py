"""Scope isolation (docs/classification.md): identity keys always carry their own scope; the same
BSUID in two scopes never gives the same key."""

from __future__ import annotations

import json
import string
from collections import defaultdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.core.pipeline import Pipeline
from processor.core.records import InputRecord
from processor.core.registry import Registry
from schemas.registry import NumberEntry

from .checks import decode_event, process

BSUIDS = ["US.7301846620193748112", "US.5518290017364528190", "GB.abcDEF", "IN.1"]
PHONES = ["14155550123", "447700900123", "2348030000001", ""]
# Registry scopes: no "/" (the key separator) and a leading letter, so they can never be
# mistaken for the scope of an unknown number (a WABA id or an E.164 number).
scope_names = st.text(
    alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=8
).filter(lambda s: s[0].isalpha())


@st.composite
def world(draw: st.DrawFn) -> tuple[list[NumberEntry], list[dict[str, Any]]]:
    scopes = draw(st.lists(scope_names, min_size=2, max_size=4, unique=True))
    entries = [
        NumberEntry(
            number=f"+1555123{i:04d}",
            phone_number_id=f"2000000000{i:05d}",
            scope=draw(st.sampled_from(scopes)),
            bsuid_enabled=draw(st.booleans()),
        )
        for i in range(draw(st.integers(min_value=2, max_value=6)))
    ]
    appearances = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    # Indexes past the registry are unknown numbers.
                    "number": st.integers(min_value=0, max_value=len(entries) + 2),
                    "waba": st.sampled_from(["300000000000001", "300000000000002"]),
                    "format": st.sampled_from(["meta", "connectly"]),
                    "bsuid": st.sampled_from(BSUIDS),
                    "phone": st.sampled_from(PHONES),
                }
            ),
            min_size=1,
            max_size=8,
        )
    )
    return entries, appearances


def body(app: dict[str, Any]) -> bytes:
    i = app["number"]
    number, pnid = f"1555123{i:04d}", f"2000000000{i:05d}"
    if app["format"] == "connectly":
        customer = {
            "id": app["bsuid"],
            "userId": app["bsuid"],
            "phoneNumber": app["phone"] and "+" + app["phone"],
        }
        return json.dumps(
            {"timestamp": "1782000000", "sender": customer, "recipient": {"id": "+" + number}}
        ).encode()
    message = {
        "from_user_id": app["bsuid"],
        "id": f"wamid.{i}",
        "timestamp": "1782000000",
        "type": "text",
    }
    if app["phone"]:
        message["from"] = app["phone"]
    value = {
        "metadata": {"display_phone_number": number, "phone_number_id": pnid},
        "messages": [message],
    }
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": app["waba"], "changes": [{"field": "messages", "value": value}]}],
        }
    ).encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world())
def test_keys_never_cross_scopes(world_: tuple[list[NumberEntry], list[dict[str, Any]]]) -> None:
    entries, appearances = world_
    pipeline = Pipeline(registry=Registry(entries))
    registered = {e.scope for e in entries}
    keys_by_bsuid: dict[str, dict[str, str]] = defaultdict(dict)
    for app in appearances:
        out = process(pipeline, InputRecord(value=body(app)))
        assert len(out) == 1
        assert out[0].route != "dlq"
        event = decode_event(out[0])
        i = app["number"]
        if i < len(entries):
            expected_scope = entries[i].scope
            assert event.gate.number_enabled == entries[i].bsuid_enabled
        else:
            expected_scope = app["waba"] if app["format"] == "meta" else f"+1555123{i:04d}"
            assert not event.gate.number_enabled
        assert event.business.scope == expected_scope
        key = event.identity.key
        assert key == f"{expected_scope}/{app['bsuid']}"
        for other in registered | {"300000000000001", "300000000000002"}:
            if other != expected_scope:
                assert not key.startswith(f"{other}/")
        keys_by_bsuid[app["bsuid"]][expected_scope] = key
    for keys in keys_by_bsuid.values():
        # One BSUID seen in several scopes: as many distinct keys as scopes.
        assert len(set(keys.values())) == len(keys)
