"""The customer's identifiers are the union of the item's and its matched contact's.

Every appearance kind whose change repeats the customer in `contacts[]` is checked alike:
inbound messages (and shared contacts), message statuses, echoes, calls (both directions),
call statuses, preferences, and the standby copies of messages, statuses and echoes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from processor.core.records import OutputRecord
from tests.property.appearance_kinds import (
    A_META,
    BSUID,
    KINDS,
    OTHER_BSUID,
    OTHER_PARENT,
    OTHER_PHONE,
    PARENT,
    PHONE,
    STATUS,
    TEXT,
    WITH_PARENT,
    contact,
)

Run = Callable[..., list[OutputRecord]]


def identity_of(out: list[OutputRecord]) -> dict[str, Any]:
    assert [o.route for o in out] == ["identity"], [o.headers for o in out]
    event = json.loads(out[0].value)
    return {
        "class": event["identity"]["class"],
        "phone": event["identity"]["phone"],
        "bsuid": event["identity"]["bsuid"],
        "parent": event["identity"]["parentBsuid"],
        "name": event["customer"]["name"],
        "eventType": event["eventType"],
    }


def dead_letter(out: list[OutputRecord]) -> dict[str, str]:
    assert [o.route for o in out] == ["dlq"]
    return {k: v.decode() for k, v in out[0].headers}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_item_and_contact_agree(kind: str, run: Run) -> None:
    spec = KINDS[kind]
    ids = (PHONE, BSUID, PARENT if spec.names[2] else "")
    got = identity_of(run(spec.body(ids, [contact(PHONE, BSUID, PARENT)])))
    assert got == {
        "class": "phone_and_bsuid",
        "phone": "+" + PHONE,
        "bsuid": BSUID,
        "parent": PARENT,
        "name": "Ana",
        "eventType": spec.event_type,
    }


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_phone_only_item_gains_the_contacts_bsuid_and_parent(kind: str, run: Run) -> None:
    spec = KINDS[kind]
    got = identity_of(run(spec.body((PHONE, "", ""), [contact(PHONE, BSUID, PARENT)])))
    assert (got["class"], got["phone"], got["bsuid"], got["parent"]) == (
        "phone_and_bsuid",
        "+" + PHONE,
        BSUID,
        PARENT,
    )


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_bsuid_only_item_gains_the_contacts_phone(kind: str, run: Run) -> None:
    spec = KINDS[kind]
    got = identity_of(run(spec.body(("", BSUID, ""), [contact(PHONE, BSUID)])))
    assert (got["class"], got["phone"], got["bsuid"]) == ("phone_and_bsuid", "+" + PHONE, BSUID)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_parent_comes_from_the_contact(kind: str, run: Run) -> None:
    spec = KINDS[kind]
    got = identity_of(run(spec.body(("", BSUID, ""), [contact("", BSUID, PARENT)])))
    assert (got["bsuid"], got["parent"]) == (BSUID, PARENT)
    # A shared contact card gives its phone; nothing else does here.
    assert got["phone"] == ("+" + PHONE if kind == "contact_shared" else "")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_conflicting_phone(kind: str, run: Run) -> None:
    # Matched by the BSUID; the contact names another phone.
    spec = KINDS[kind]
    headers = dead_letter(run(spec.body((PHONE, BSUID, ""), [contact(OTHER_PHONE, BSUID)])))
    assert headers["dlq.error.code"] == "identity_conflict"
    assert "phone differs between the item and contacts[].wa_id" in headers["dlq.error.message"]
    assert f".{spec.array}[0]" in headers["dlq.error.message"]
    assert PHONE not in headers["dlq.error.message"]  # no identifiers in the headers


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_conflicting_bsuid(kind: str, run: Run) -> None:
    # Matched by the phone; the contact names another BSUID.
    spec = KINDS[kind]
    headers = dead_letter(run(spec.body((PHONE, BSUID, ""), [contact(PHONE, OTHER_BSUID)])))
    assert headers["dlq.error.code"] == "identity_conflict"
    assert "BSUID differs between the item and contacts[].user_id" in headers["dlq.error.message"]


@pytest.mark.parametrize("kind", WITH_PARENT)
def test_conflicting_parent(kind: str, run: Run) -> None:
    spec = KINDS[kind]
    out = run(spec.body(("", BSUID, PARENT), [contact("", BSUID, OTHER_PARENT)]))
    headers = dead_letter(out)
    assert headers["dlq.error.code"] == "identity_conflict"
    assert "parent BSUID differs" in headers["dlq.error.message"]


def test_a_conflicting_item_fails_alone(run: Run) -> None:
    """The other items of the body are published; the body is dead-lettered once."""
    doc = KINDS["message"].body((PHONE, "", ""), [contact(PHONE, OTHER_BSUID)])
    messages = doc["entry"][0]["changes"][0]["value"]["messages"]
    messages[0]["from_user_id"] = BSUID
    messages.append({**TEXT, "id": "wamid.OK", "from": OTHER_PHONE})
    out = run(doc)
    assert [o.route for o in out] == ["identity", "dlq"]
    assert json.loads(out[0].value)["message"]["id"] == "wamid.OK"
    headers = dict(out[1].headers)
    assert headers["dlq.error.code"] == b"identity_conflict"
    assert b".messages[0]" in headers["dlq.error.message"]


def test_only_the_items_own_identifiers_match_a_contact(run: Run) -> None:
    """A contact of someone else never fills in: no wa_id or user_id equal to the item's."""
    spec = KINDS["message"]
    got = identity_of(run(spec.body((PHONE, "", ""), [contact(OTHER_PHONE, BSUID, PARENT)])))
    assert (got["class"], got["bsuid"], got["parent"], got["name"]) == ("phone_only", "", "", None)


def test_several_matching_contacts_must_agree(run: Run) -> None:
    """With only a phone, two contacts of that phone that name two BSUIDs: nobody can tell
    which BSUID is the customer's, so the item is a conflict, not a pick."""
    spec = KINDS["message"]
    contacts = [contact(PHONE, BSUID, name="First"), contact(PHONE, OTHER_BSUID, name="Second")]
    headers = dead_letter(run(spec.body((PHONE, "", ""), contacts)))
    assert headers["dlq.error.code"] == "identity_conflict"
    # The same contact twice (or two that add different identifiers) is no conflict.
    contacts = [contact(PHONE, BSUID, name="First"), contact(PHONE, "", PARENT, name="Second")]
    got = identity_of(run(spec.body((PHONE, "", ""), contacts)))
    assert (got["bsuid"], got["parent"], got["name"]) == (BSUID, PARENT, "First")


def test_a_malformed_value_is_reported_as_malformed_not_as_a_conflict(run: Run) -> None:
    spec = KINDS["message"]
    out = run(spec.body((PHONE, BSUID, ""), [contact("1415ABC0123", BSUID)]))
    assert dead_letter(out)["dlq.error.code"] == "invalid_phone"
    out = run(spec.body(("", BSUID, ""), [contact(PHONE, BSUID, "US.ENT.not-a-parent")]))
    assert dead_letter(out)["dlq.error.code"] == "invalid_bsuid"
    out = run(spec.body((PHONE, "us.lower", ""), [contact(PHONE, BSUID)]))
    assert dead_letter(out)["dlq.error.code"] == "invalid_bsuid"


def test_two_spellings_of_one_phone_agree(run: Run) -> None:
    spec = KINDS["message"]
    got = identity_of(run(spec.body((PHONE, BSUID, ""), [contact("+1 (415) 555-0123", BSUID)])))
    assert got["phone"] == "+" + PHONE


def test_bsuids_differing_in_case_conflict(run: Run) -> None:
    spec = KINDS["message"]
    body = spec.body((PHONE, "US.abc123", ""), [contact(PHONE, "US.ABC123")])
    assert dead_letter(run(body))["dlq.error.code"] == "identity_conflict"


def test_the_union_leaves_event_ids_alone(run: Run) -> None:
    """Natural keys come from the item's own fields: a contact that adds a BSUID must not
    change the eventId a webhook had before the contact was read (docs/schemas.md)."""
    for kind in ("preference", "message", "status"):
        spec = KINDS[kind]
        bare = json.loads(run(spec.body((PHONE, "", ""), []))[0].value)
        united = json.loads(run(spec.body((PHONE, "", ""), [contact(PHONE, BSUID)]))[0].value)
        assert united["identity"]["bsuid"] == BSUID
        assert united["eventId"] == bare["eventId"], kind


def test_group_status_participant_is_united_with_its_contact(run: Run) -> None:
    status = {
        **STATUS,
        "recipient_id": "120363000000000001",
        "recipient_type": "group",
        "recipient_participant_id": PHONE,
    }
    value = {"metadata": A_META, "statuses": [status], "contacts": [contact(PHONE, BSUID)]}
    doc = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "3", "changes": [{"field": "messages", "value": value}]}],
    }
    got = identity_of(run(doc))
    assert (got["class"], got["phone"], got["bsuid"]) == ("phone_and_bsuid", "+" + PHONE, BSUID)


def test_shared_contact_card_still_attests_when_the_contact_has_no_phone(run: Run) -> None:
    spec = KINDS["contact_shared"]
    out = run(spec.body(("", BSUID, ""), [contact("", BSUID)]))
    event = json.loads(out[0].value)
    assert event["identity"]["phone"] == "+" + PHONE
    assert event["identity"]["phoneAttested"] is True
