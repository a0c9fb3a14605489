"""Scope isolation across the appearances of one body and across a whole stream
(docs/classification.md): no output of scope X ever carries a key of scope Y.

`test_scope_isolation.py` checks one appearance per body. Real bodies batch: one Meta webhook
carries several entries (WABAs), each with several changes (business numbers, registered or
not), each with several messages. Here every output is traced back to the change it came from
(by its message id) and must carry that change's scope, and only it: in `business.scope`, in
`identity.key`, and in the Kafka key (the identity key, or the business number of a dropped
event). The registry scopes and the scopes of unknown numbers (the WABA id for Meta) are
mixed in the same bodies, with the same BSUID under several scopes.
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.core.pipeline import Pipeline
from processor.core.records import InputRecord, OutputRecord
from processor.core.registry import Registry
from processor.devkit.generate import demo_registry_toml, generate
from processor.devkit.generate_shapes import BUSINESSES
from processor.settings import load_registry
from schemas.registry import NumberEntry

from .checks import decode_event, process

BSUIDS = ["US.7301846620193748112", "US.5518290017364528190", "GB.abcDEF", "IN.1"]
PHONES = ["14155550123", "447700900123", "2348030000001", ""]
WABAS = ["300000000000001", "300000000000002", "300000000000003"]
scope_names = st.text(
    alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=8
).filter(lambda s: s[0].isalpha())

Change = dict[str, Any]


def number(i: int) -> tuple[str, str]:
    return f"1555123{i:04d}", f"2000000000{i:05d}"


@st.composite
def batched_world(draw: st.DrawFn) -> tuple[list[NumberEntry], list[list[Change]]]:
    scopes = draw(st.lists(scope_names, min_size=2, max_size=4, unique=True))
    entries = [
        NumberEntry(
            number="+" + number(i)[0],
            phone_number_id=number(i)[1],
            scope=draw(st.sampled_from(scopes)),
            bsuid_enabled=draw(st.booleans()),
        )
        for i in range(draw(st.integers(min_value=2, max_value=5)))
    ]
    # Indexes past the registry are numbers nobody registered: their scope is the WABA.
    change = st.fixed_dictionaries(
        {
            "number": st.integers(min_value=0, max_value=len(entries) + 2),
            "messages": st.lists(
                st.tuples(st.sampled_from(BSUIDS), st.sampled_from(PHONES)),
                min_size=1,
                max_size=3,
            ),
        }
    )
    body_entries = draw(st.lists(st.lists(change, min_size=1, max_size=3), min_size=1, max_size=3))
    return entries, body_entries


def meta_body(entries_changes: list[list[Change]]) -> tuple[bytes, dict[str, tuple[int, str]]]:
    """One Meta body; and per message id, (number index, WABA) of the change it is in."""
    where: dict[str, tuple[int, str]] = {}
    entries = []
    for e, changes in enumerate(entries_changes):
        waba = WABAS[e % len(WABAS)]
        body_changes = []
        for c, change in enumerate(changes):
            display, pnid = number(change["number"])
            messages = []
            for m, (bsuid, phone) in enumerate(change["messages"]):
                wamid = f"wamid.{e}.{c}.{m}"
                where[wamid] = (change["number"], waba)
                message = {"from_user_id": bsuid, "id": wamid, "timestamp": "1782000000"}
                message["type"] = "text"
                if phone:
                    message["from"] = phone
                messages.append(message)
            value = {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": display, "phone_number_id": pnid},
                "messages": messages,
            }
            body_changes.append({"field": "messages", "value": value})
        entries.append({"id": waba, "changes": body_changes})
    body = {"object": "whatsapp_business_account", "entry": entries}
    return json.dumps(body).encode(), where


def check_isolated(output: OutputRecord, scope: str, business: str, others: set[str]) -> None:
    event = decode_event(output)
    identity = event.identity
    assert event.business.scope == scope
    assert identity.key == f"{scope}/{identity.bsuid or identity.phone}"
    if output.route == "identity":
        assert output.key == identity.key.encode()
    else:
        assert output.key == business.encode()
    for other in others - {scope}:
        assert not identity.key.startswith(f"{other}/")
        assert not (output.key or b"").startswith(f"{other}/".encode())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batched_world())
def test_every_output_of_a_batched_body_carries_its_own_scope(
    world: tuple[list[NumberEntry], list[list[Change]]],
) -> None:
    entries, entries_changes = world
    pipeline = Pipeline(registry=Registry(entries))
    body, where = meta_body(entries_changes)
    outputs = process(pipeline, InputRecord(value=body, topic="raw"))
    published = [o for o in outputs if o.route != "dlq"]
    assert len(published) == len(where)  # one event per message, none lost, none merged
    scopes = {e.scope for e in entries} | set(WABAS)
    keys: dict[tuple[str, str], set[str]] = {}
    for output in published:
        event = decode_event(output)
        index, waba = where[event.message.id]
        registered = index < len(entries)
        scope = entries[index].scope if registered else waba
        business = "+" + number(index)[0]
        assert event.business.number == business
        check_isolated(output, scope, business, scopes)
        keys.setdefault((event.identity.bsuid, event.identity.phone), set()).add(scope)
    # The same customer seen under several scopes: as many distinct keys as scopes.
    for (bsuid, phone), seen in keys.items():
        expected = {f"{s}/{bsuid or phone}" for s in seen}
        assert len(expected) == len(seen)


def test_generated_traffic_never_crosses_scopes(tmp_path: Path) -> None:
    """A realistic stream (two registered portfolios and an unknown number; Meta and
    Connectly; statuses, echoes, calls, history, contact syncs ...): every event's key is in
    its own business's scope, and a BSUID shows up only with the businesses of the portfolio
    it was issued for (a customer has one BSUID per business portfolio)."""
    numbers = tmp_path / "numbers.toml"
    numbers.write_text(demo_registry_toml())
    pipeline = Pipeline(registry=load_registry(str(numbers)))
    business_of = {b.number: b for b in BUSINESSES}
    registered = {b.scope for b in BUSINESSES if b.scope}
    portfolios: dict[str, set[int]] = {}
    count = 0
    # Well-formed traffic only: the generator's malformed records put BSUIDs anywhere.
    for record in generate(4000, seed=17, malformed_ratio=0.0):
        out = process(pipeline, InputRecord(value=record.value, key=record.key, topic="raw"))
        for output in out:
            if output.route == "dlq":
                continue
            event = decode_event(output)
            business = business_of[event.business.number]
            # Registered: the registry's scope. Not registered: the WABA (Meta) or the number
            # itself (Connectly), never a registered scope.
            scope = business.scope or event.business.scope
            if not business.scope:
                assert scope in (business.waba, business.number)
            check_isolated(output, scope, business.number, registered | {scope})
            if event.identity.bsuid:
                portfolios.setdefault(event.identity.bsuid, set()).add(business.portfolio)
            count += 1
    assert count > 3000
    assert len(portfolios) > 500
    crossed = {bsuid: p for bsuid, p in portfolios.items() if len(p) > 1}
    assert not crossed, f"BSUIDs seen in several portfolios: {sorted(crossed)[:5]}"
