"""Properties of the link state: arrival order, scopes, replays, restore, repartitioning.

Two kinds of input. `any_events` draws identity events from small pools of phones and BSUIDs
with no regard for how WhatsApp behaves (a BSUID may show up with two phones, a phone may go
back to an old BSUID): what holds there holds for any input. `histories` draws customers that
behave as WhatsApp says they do (a BSUID keeps its phone; a new phone comes with a new BSUID;
BSUIDs change by phone continuity, by a system message without phone, or with a number change):
there the partitioned stage must give the same links as one partition, and the right ones.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.links.state import LinkState
from schemas.identity import IdentityEvent
from schemas.links import Link
from tests.unit.test_links_events import T0, Links, encoded, identity_event

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PHONES = ("+14155550100", "+14155550101", "+14155550102")
BSUIDS = ("US.A1", "US.B2", "US.C3", "US.D4")
KINDS = ("link", "link", "link", "number_change", "id_change", "bsuid_only", "card", "attested")


@st.composite
def any_events(draw: Any, scopes: tuple[str, ...] = ("acme", "globex")) -> list[IdentityEvent]:
    """Events with distinct times (and so distinct eventIds), in time order."""
    count = draw(st.integers(1, 14))
    times = sorted(
        draw(st.lists(st.integers(0, 5000), min_size=count, max_size=count, unique=True))
    )
    events = []
    for at in times:
        kind = draw(st.sampled_from(KINDS))
        scope = draw(st.sampled_from(scopes))
        phone, bsuid, previous = (
            draw(st.sampled_from(PHONES)),
            draw(st.sampled_from(BSUIDS)),
            draw(st.sampled_from(BSUIDS)),
        )
        username = draw(st.sampled_from(("", "ana", "ben")))
        common: dict[str, Any] = {"scope": scope, "at": T0 + at, "username": username}
        if kind == "link":
            events.append(identity_event(bsuid=bsuid, phone=phone, **common))
        elif kind == "bsuid_only":
            events.append(identity_event(bsuid=bsuid, **common))
        elif kind in ("card", "attested"):
            events.append(
                identity_event(
                    bsuid=bsuid,
                    phone=phone,
                    event_type="contact_shared",
                    attested=kind == "attested",
                    **common,
                )
            )
        else:
            events.append(
                identity_event(
                    bsuid=bsuid,
                    phone=phone if kind == "number_change" else "",
                    previous=previous,
                    event_type="identity_change",
                    status="user_changed_number" if kind == "number_change" else "user_id_update",
                    **common,
                )
            )
    return events


def content(table: dict[str, Link]) -> dict[str, tuple[str, ...]]:
    """A link without since/eventId: those name the event that last changed the link as
    published, which depends on the order the stage saw the events in."""
    return {
        key: (
            link.scope,
            link.bsuid,
            link.phone,
            link.parent_bsuid,
            link.username,
            link.previous_bsuid,
        )
        for key, link in table.items()
    }


def run(events: list[IdentityEvent], partitions: int = 1) -> Links:
    links = Links(partitions)
    links.feed(*events)
    return links


@FAST
@given(data=st.data(), events=any_events())
def test_final_links_do_not_depend_on_arrival_order(data: Any, events: list[IdentityEvent]) -> None:
    shuffled = data.draw(st.permutations(events))
    in_order, any_order = run(events), run(shuffled)
    assert in_order.table() == any_order.table()
    # The published topic converges to the state's links whatever the order.
    assert content(in_order.topic()) == content(in_order.table())
    assert content(any_order.topic()) == content(any_order.table())


@FAST
@given(events=any_events())
def test_a_replay_publishes_nothing(events: list[IdentityEvent]) -> None:
    links = run(events)
    assert links.feed(*events) == []


@FAST
@given(
    events=any_events(scopes=("acme", "globex", "initech")),
    scope=st.sampled_from(("acme", "globex")),
)
def test_scopes_never_mix(events: list[IdentityEvent], scope: str) -> None:
    mine = [event for event in events if event.business.scope == scope]
    links = run(mine)
    for out in links.outputs:
        assert out.key is not None
        assert out.key.decode().startswith(f"{scope}/")
    assert all(link.scope == scope for link in links.table().values())
    assert all(event.business.scope == scope for event in links.announced())
    # Other scopes' events around them change nothing in this scope's links.
    everything = run(events).table()
    assert {key: link for key, link in everything.items() if link.scope == scope} == links.table()


@FAST
@given(events=any_events(), cut=st.integers(0, 14))
def test_restored_state_goes_on_like_the_live_one(events: list[IdentityEvent], cut: int) -> None:
    live = run(events)
    first = Links()
    changelog: list[tuple[bytes, bytes]] = []
    for event in events[:cut]:
        for copy in first.topology.route(encoded(event)):
            _out, records = first.topology.process(first.states[0], copy.value, None)
            changelog += records
    restored = LinkState()
    for key, value in changelog:
        restored.restore(key, value)
    assert restored.table() == first.states[0].table()
    second = Links()
    second.states[0] = restored
    second.feed(*events[cut:])
    assert second.table() == live.table()


# -- WhatsApp-shaped histories: partitioning gives the same and the right links ---------------


@st.composite
def histories(draw: Any) -> tuple[list[IdentityEvent], dict[str, tuple[str, str, str]]]:
    """Customers whose BSUID changes as WhatsApp changes it, and the links they end with."""
    events: list[IdentityEvent] = []
    expected: dict[str, tuple[str, str, str]] = {}
    for customer in range(draw(st.integers(1, 4))):
        scope = draw(st.sampled_from(("acme", "globex")))
        phone, bsuid = f"+1415555{customer:02d}00", f"US.{customer}x0"
        changes = draw(
            st.lists(st.sampled_from(("continuity", "id_change", "number_change")), max_size=3)
        )
        for segment in range(len(changes) + 1):
            base = T0 + segment * 1000 + customer
            change = changes[segment - 1] if segment else ""
            if change:
                previous, bsuid = bsuid, f"US.{customer}x{segment}"
                if change == "number_change":
                    phone = f"+1415555{customer:02d}{segment:02d}"
                if change != "continuity":
                    events.append(
                        identity_event(
                            scope=scope,
                            bsuid=bsuid,
                            phone=phone if change == "number_change" else "",
                            previous=previous,
                            event_type="identity_change",
                            status="user_changed_number",
                            at=base,
                        )
                    )
            # Phone continuity needs the phone next to the new BSUID at least once.
            low = 1 if change in ("", "continuity") else 0
            offsets = draw(st.lists(st.integers(1, 99), min_size=low, max_size=3, unique=True))
            events += [
                identity_event(scope=scope, bsuid=bsuid, phone=phone, at=base + offset * 8)
                for offset in offsets
            ]
            events.append(identity_event(scope=scope, bsuid=bsuid, at=base + 900))
        expected[f"{scope}/{phone}"] = expected[f"{scope}/{bsuid}"] = (scope, bsuid, phone)
    return events, expected


@FAST
@given(data=st.data(), history=histories(), partitions=st.integers(2, 5))
def test_repartitioned_by_phone_gives_the_right_links(
    data: Any, history: tuple[list[IdentityEvent], dict[str, tuple[str, str, str]]], partitions: int
) -> None:
    events, expected = history
    shuffled = data.draw(st.permutations(events))
    single, spread = run(events), run(shuffled, partitions)
    # Each key is published by exactly one partition (Links.table checks it) ...
    assert spread.table() == single.table()
    # ... and the links are each customer's last BSUID and phone, nothing older.
    got = {key: (link.scope, link.bsuid, link.phone) for key, link in spread.table().items()}
    assert got == expected
    assert content(spread.topic()) == content(spread.table())
