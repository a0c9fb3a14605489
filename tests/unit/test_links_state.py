"""The link state and topology without Kafka: links, lookups, rotations, event-time order."""

from __future__ import annotations

import itertools

import pytest

from processor.core.partitioner import partition_for
from processor.links.observe import PHONE_CONTINUITY
from processor.links.rotation import DERIVED_HEADER, rotation_event_id
from processor.links.state import LinkState
from processor.links.topology import ROLE_HEADER, LinksTopology
from schemas.links import LINK_DECODER
from tests.unit.test_links_events import T0, Links, encoded
from tests.unit.test_links_events import identity_event as event

P, P2 = "+14155550100", "+14155550999"


def keys(outputs: list[object]) -> list[tuple[str, bool]]:
    """(key, is_tombstone) of the link records among `outputs`."""
    return [
        (out.key.decode(), out.value is None)  # type: ignore[attr-defined]
        for out in outputs
        if out.destination == "links"  # type: ignore[attr-defined]
    ]


def test_a_phone_and_bsuid_event_links_both_keys() -> None:
    links = Links()
    outputs = links.feed(event(bsuid="US.A1", phone=P, username="ana", parent="US.ENT.9"))
    assert sorted(keys(outputs)) == [(f"acme/{P}", False), ("acme/US.A1", False)]
    link = LINK_DECODER.decode(outputs[0].value or b"")
    assert (link.scope, link.bsuid, link.phone, link.username, link.parent_bsuid) == (
        "acme",
        "US.A1",
        P,
        "ana",
        "US.ENT.9",
    )
    assert link.since == "2026-06-21T00:00:00Z"
    assert link.event_id == event(bsuid="US.A1", phone=P, username="ana").event_id


def test_lookups_resolve_a_bsuid_to_its_phone_and_a_phone_to_its_bsuid() -> None:
    links = Links()
    links.feed(event(bsuid="US.A1", phone=P))
    # A bsuid_only event later: its key finds the last phone; it changes nothing itself.
    assert links.feed(event(bsuid="US.A1", at=T0 + 5)) == []
    table = links.topic()
    assert table["acme/US.A1"].phone == P
    assert table[f"acme/{P}"].bsuid == "US.A1"


def test_events_with_one_identifier_never_link() -> None:
    links = Links()
    assert links.feed(event(bsuid="US.A1"), event(phone=P)) == []
    assert links.table() == {}


def test_cards_without_attestation_never_link() -> None:
    links = Links()
    card = event(bsuid="US.A1", phone=P, event_type="contact_shared", attested=False)
    assert links.feed(card) == []
    attested = event(bsuid="US.A1", phone=P, event_type="contact_shared", attested=True)
    assert sorted(keys(links.feed(attested))) == [(f"acme/{P}", False), ("acme/US.A1", False)]


def test_phone_continuity_announces_the_rotation_once() -> None:
    links = Links()
    links.feed(event(bsuid="US.A1", phone=P))
    outputs = links.feed(event(bsuid="US.B1", phone=P, at=T0 + 10))
    assert sorted(keys(outputs)) == [
        (f"acme/{P}", False),
        ("acme/US.A1", True),  # the old BSUID's key is superseded
        ("acme/US.B1", False),
    ]
    [announced] = links.announced()
    assert announced.event_type == "identity_change"
    assert announced.event_id == rotation_event_id("acme", P, "US.A1", "US.B1")
    assert (announced.identity.previous_bsuid, announced.identity.bsuid) == ("US.A1", "US.B1")
    assert announced.identity.key == "acme/US.B1"
    assert announced.message.status == PHONE_CONTINUITY
    assert announced.customer.user_id == "US.B1"
    [out] = [o for o in outputs if o.destination == "identity"]
    assert out.headers == [DERIVED_HEADER]
    assert out.key == b"acme/US.B1"
    # The same rotation seen again, by a later message or a replay: announced no more.
    assert links.feed(event(bsuid="US.B1", phone=P, at=T0 + 20)) == []
    assert links.feed(event(bsuid="US.B1", phone=P, at=T0 + 10)) == []
    assert len(links.announced()) == 1
    assert links.table()[f"acme/{P}"].previous_bsuid == "US.A1"


def test_the_announcement_is_not_read_back_as_a_new_rotation() -> None:
    links = Links()
    links.feed(event(bsuid="US.A1", phone=P), event(bsuid="US.B1", phone=P, at=T0 + 10))
    [announced] = links.announced()
    assert links.topology.route(encoded(announced)) == []
    assert links.topology.stats.skips["own_rotation"] == 1


def test_a_number_change_moves_both_keys_and_is_not_announced_again() -> None:
    links = Links()
    links.feed(event(bsuid="US.A1", phone=P))
    change = event(
        bsuid="US.B1", phone=P2, previous="US.A1", event_type="identity_change", at=T0 + 10
    )
    outputs = links.feed(change)
    assert sorted(keys(outputs)) == sorted(
        [
            (f"acme/{P2}", False),
            (f"acme/{P}", True),  # the old phone key after a number change
            ("acme/US.A1", True),
            ("acme/US.B1", False),
        ]
    )
    assert links.announced() == []  # Meta's system message is the announcement
    assert links.table()["acme/US.B1"].previous_bsuid == "US.A1"
    # A message on the new number later: still nothing to announce.
    links.feed(event(bsuid="US.B1", phone=P2, at=T0 + 20))
    assert links.announced() == []


def test_a_bsuid_change_without_phone_keeps_the_phone_and_is_not_announced() -> None:
    links = Links()
    links.feed(event(bsuid="US.A1", phone=P, username="ana"))
    change = event(bsuid="US.B1", previous="US.A1", event_type="identity_change", at=T0 + 10)
    outputs = links.feed(change)
    assert sorted(keys(outputs)) == [
        (f"acme/{P}", False),
        ("acme/US.A1", True),
        ("acme/US.B1", False),
    ]
    link = links.table()[f"acme/{P}"]
    assert (link.bsuid, link.previous_bsuid, link.username) == ("US.B1", "US.A1", "ana")
    # The phone then shows up next to the new BSUID: phone continuity agrees with Meta.
    links.feed(event(bsuid="US.B1", phone=P, at=T0 + 20))
    assert links.announced() == []


def test_a_system_message_after_continuity_announced_it_adds_nothing() -> None:
    links = Links()
    links.feed(event(bsuid="US.A1", phone=P), event(bsuid="US.B1", phone=P, at=T0 + 20))
    late = event(bsuid="US.B1", previous="US.A1", event_type="identity_change", at=T0 + 10)
    links.feed(late)
    assert len(links.announced()) == 1


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_a_chain_arriving_in_any_order_ends_at_its_last_bsuid(order: tuple[int, ...]) -> None:
    chain = [
        event(bsuid=b, phone=P, at=T0 + 10 * i) for i, b in enumerate(("US.A", "US.B", "US.C"))
    ]
    links = Links()
    links.feed(*(chain[i] for i in order))
    assert {key: link.bsuid for key, link in links.topic().items()} == {
        f"acme/{P}": "US.C",
        "acme/US.C": "US.C",
    }
    assert links.table()[f"acme/{P}"].previous_bsuid == "US.B"


def test_an_older_event_after_a_newer_one_changes_nothing() -> None:
    links = Links()
    links.feed(event(bsuid="US.A1", phone=P, at=T0 + 10), event(bsuid="US.B1", phone=P, at=T0 + 20))
    before = links.table()
    assert links.feed(event(bsuid="US.A1", phone=P, at=T0 + 5)) == []
    assert links.feed(event(bsuid="US.B1", phone=P, at=T0 + 15)) == []
    assert links.feed(event(bsuid="US.A1", phone=P, at=T0 + 10)) == []  # a duplicate
    assert links.table() == before
    assert len(links.announced()) == 1  # the A1 -> B1 rotation, when B1 came


def test_a_late_predecessor_keeps_the_link_and_names_the_previous_bsuid() -> None:
    links = Links()
    links.feed(event(bsuid="US.B1", phone=P, at=T0 + 20))
    outputs = links.feed(event(bsuid="US.A1", phone=P, at=T0 + 10))
    assert ("acme/US.A1", False) not in keys(outputs)  # never linked: it is older
    link = links.table()[f"acme/{P}"]
    assert (link.bsuid, link.previous_bsuid) == ("US.B1", "US.A1")
    [announced] = links.announced()  # learnt late, announced once, with the same id
    assert announced.event_id == rotation_event_id("acme", P, "US.A1", "US.B1")


def test_a_phone_given_to_someone_else_after_a_number_change_is_no_rotation() -> None:
    links = Links()
    links.feed(event(bsuid="US.A1", phone=P))
    links.feed(
        event(bsuid="US.B1", phone=P2, previous="US.A1", event_type="identity_change", at=T0 + 10)
    )
    links.feed(event(bsuid="US.Z9", phone=P, at=T0 + 20))  # the number, recycled
    assert links.announced() == []
    assert links.table()[f"acme/{P}"].previous_bsuid == ""
    assert links.table()["acme/US.B1"].phone == P2


def test_the_profile_survives_events_without_one() -> None:
    links = Links()
    links.feed(event(bsuid="US.A1", phone=P, username="ana"))
    assert links.feed(event(bsuid="US.A1", phone=P, at=T0 + 10)) == []
    assert links.table()["acme/US.A1"].username == "ana"
    links.feed(event(bsuid="US.A1", phone=P, at=T0 + 20, username="ana.r"))
    assert links.topic()["acme/US.A1"].username == "ana.r"


def test_scopes_keep_their_own_links() -> None:
    links = Links()
    links.feed(event(bsuid="US.A1", phone=P), event(bsuid="US.Q7", phone=P, scope="globex"))
    assert links.announced() == []  # the same phone in another scope is no rotation
    assert links.table()[f"acme/{P}"].bsuid == "US.A1"
    assert links.table()[f"globex/{P}"].bsuid == "US.Q7"


def test_routing_keys_link_facts_by_phone_and_sends_rotations_everywhere() -> None:
    topology = LinksTopology(partitions=4)
    [copy] = topology.route(encoded(event(bsuid="US.A1", phone=P)))
    assert copy.key == f"acme/{P}".encode()
    assert copy.partition == partition_for(copy.key, 4)
    assert copy.headers == [(ROLE_HEADER, b"link")]
    phoneless = event(bsuid="US.B1", previous="US.A1", event_type="identity_change")
    copies = topology.route(encoded(phoneless))
    assert sorted(c.partition or 0 for c in copies) == [0, 1, 2, 3]
    assert {c.headers[0][1] for c in copies} == {b"rotation"}
    number = event(bsuid="US.B1", phone=P2, previous="US.A1", event_type="identity_change")
    copies = topology.route(encoded(number))
    home = partition_for(f"acme/{P2}".encode(), 4)
    assert {(c.partition, c.headers[0][1]) for c in copies} == {
        (p, b"both" if p == home else b"rotation") for p in range(4)
    }
    assert topology.route(b"not json") == []
    assert topology.stats.skips["undecodable"] == 1


def test_restore_shares_one_fact_between_phone_and_bsuid() -> None:
    live = Links()
    changelog: list[tuple[bytes, bytes]] = []
    for copy in live.topology.route(encoded(event(bsuid="US.A1", phone=P))):
        changelog += live.topology.process(live.states[0], copy.value, None)[1]
    restored = LinkState()
    for key, value in changelog:
        restored.restore(key, value)
    assert restored.phones[f"acme/{P}"] is restored.bsuids["acme/US.A1"]
    assert restored.table() == live.states[0].table()
