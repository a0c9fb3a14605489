"""The contact union never loses an identifier and never hides a disagreement.

Item and contact each carry any subset of (phone, BSUID, parent BSUID), drawn from small pools
of well-formed values so that agreements and disagreements are both common; the contact always
matches the item by an identifier the item carries.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from processor.core.phone import normalize_phone
from processor.core.pipeline import Pipeline
from processor.core.records import InputRecord
from processor.core.union import bsuid_union, parent_union, phone_union

from .appearance_kinds import KINDS, contact
from .checks import process, sample_registry

REGISTRY = sample_registry()
CASES = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PHONES = ["", "14155550123", "447700900123", "+1 415 555 0123"]
BSUIDS = ["", "US.7301846620193748112", "US.5518290017364528190", "us.7301846620193748112"]
PARENTS = ["", "US.ENT.11815799212886844830", "US.ENT.99"]
#: The shared contact card adds a phone of its own: not part of the union under test.
UNION_KINDS = sorted(name for name in KINDS if name != "contact_shared")

Ids = tuple[str, str, str]


@st.composite
def item_and_contact(draw: st.DrawFn) -> tuple[str, Ids, Ids]:
    kind = draw(st.sampled_from(UNION_KINDS))
    valid_phones, valid_bsuids = PHONES[:3], BSUIDS[:3]
    item = (
        draw(st.sampled_from(valid_phones)),
        draw(st.sampled_from(valid_bsuids)),
        draw(st.sampled_from(PARENTS)) if KINDS[kind].names[2] else "",
    )
    theirs = (
        draw(st.sampled_from(valid_phones)),
        draw(st.sampled_from(valid_bsuids)),
        draw(st.sampled_from(PARENTS)),
    )
    # Matched by identifier: the contact shares the item's phone or its BSUID.
    assume((item[0] and theirs[0] == item[0]) or (item[1] and theirs[1] == item[1]))
    return kind, item, theirs


def run(body: Any) -> list[Any]:
    record = InputRecord(value=json.dumps(body).encode(), topic="whatsapp.webhooks.raw")
    return process(Pipeline(registry=REGISTRY), record)


@CASES
@given(case=item_and_contact())
def test_union_keeps_every_identifier_or_reports_the_conflict(case: tuple[str, Ids, Ids]) -> None:
    kind, item, theirs = case
    out = run(KINDS[kind].body(item, [contact(*theirs)]))
    disagree = any(a and b and a != b for a, b in zip(item, theirs, strict=True))
    if disagree:
        assert [o.route for o in out] == ["dlq"]
        assert dict(out[0].headers)["dlq.error.code"] == b"identity_conflict"
        return
    (output,) = out
    identity = json.loads(output.value)["identity"]
    phone, bsuid, parent = (a or b for a, b in zip(item, theirs, strict=True))
    phone_e164 = normalize_phone(phone)
    assert identity["phone"] == (phone_e164.e164 if phone_e164 else "")
    assert identity["bsuid"] == bsuid
    assert identity["parentBsuid"] == parent
    assert identity["class"] == (
        "phone_and_bsuid" if phone and bsuid else "bsuid_only" if bsuid else "phone_only"
    )


values = st.sampled_from(PHONES + BSUIDS + PARENTS) | st.text(max_size=12)


@CASES
@given(mine=values, theirs=values)
def test_union_functions(mine: str, theirs: str) -> None:
    for united in (phone_union, bsuid_union, parent_union):
        found = united(mine, theirs)
        assert found in (mine, theirs, None)
        if not mine or not theirs or mine == theirs:
            # Nothing to disagree about: whichever side has the value gives it.
            assert found == (mine or theirs)
        if found is None:
            # Only two present, different values ever disagree.
            assert mine
            assert theirs
            assert mine != theirs
    # BSUIDs are opaque: two different well-formed ones never agree.
    if mine != theirs and mine in BSUIDS[1:3] and theirs in BSUIDS[1:3]:
        assert bsuid_union(mine, theirs) is None
