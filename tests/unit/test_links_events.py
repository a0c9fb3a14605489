"""Identity events for the links tests, and what the links stage reads from one (`observe`).

`identity_event` builds the event the pipeline would publish (docs/schemas.md); the property and
integration tests of the links stage import it from here.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from processor.core.normalize import event_id, reach_for
from processor.links.observe import PHONE_CONTINUITY, Observation, observe
from processor.links.state import LinkState
from processor.links.topology import ROLE_HEADER, LinkOutput, LinksTopology
from schemas.identity import (
    Business,
    Customer,
    EventType,
    Gate,
    Identity,
    IdentityEvent,
    MessageRef,
    Source,
)
from schemas.links import LINK_DECODER, Link

T0 = 1_782_000_000


def identity_event(
    *,
    bsuid: str = "",
    phone: str = "",
    at: int = T0,
    scope: str = "acme",
    previous: str = "",
    event_type: EventType = "inbound_message",
    attested: bool = False,
    parent: str = "",
    username: str = "",
    status: str = "received",
    eid: str = "",
) -> IdentityEvent:
    """An admitted identity event on an enabled number of `scope`."""
    identity_class = (
        "phone_and_bsuid" if bsuid and phone else "bsuid_only" if bsuid else "phone_only"
    )
    scoped = f"{scope}/{bsuid or phone}"
    customer = (
        Customer(id=bsuid, name=None, user_id=bsuid, phone_number=phone)
        if bsuid
        else Customer(id=phone, name=None, user_id="", phone_number=phone)
    )
    return IdentityEvent(
        event_id=eid or event_id((scope, bsuid, phone, previous, event_type, str(at), status)),
        event_type=event_type,
        occurred_at=datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        source=Source(format="meta", topic="whatsapp.webhooks.raw", partition=0, offset=0),
        business=Business(scope=scope, number="+15551230001", phone_number_id="200000000000001"),
        customer=customer,
        identity=Identity(
            class_=identity_class,
            key=scoped,
            bsuid=bsuid,
            parent_bsuid=parent,
            phone=phone,
            username=username,
            country=bsuid[:2] if bsuid else "US",
            previous_bsuid=previous,
            phone_attested=attested,
        ),
        gate=Gate(number_enabled=True, decision="admit", reason=""),
        message=MessageRef(id=f"wamid.{at}", status=status),
        reach=reach_for(customer),
    )


def encoded(event: IdentityEvent) -> bytes:
    return msgspec.json.encode(event)


class Links:
    """The links stage without Kafka: route each event, process each repartition copy on its
    partition's state at once, keep every output in order."""

    def __init__(self, partitions: int = 1) -> None:
        self.topology = LinksTopology(partitions)
        self.states = [LinkState() for _ in range(partitions)]
        self.outputs: list[LinkOutput] = []

    def feed(self, *events: IdentityEvent) -> list[LinkOutput]:
        produced: list[LinkOutput] = []
        for event in events:
            for copy in self.topology.route(encoded(event)):
                assert copy.partition is not None
                role = dict(copy.headers)[ROLE_HEADER]
                outputs, _changelog = self.topology.process(
                    self.states[copy.partition], copy.value, role
                )
                produced += outputs
        self.outputs += produced
        return produced

    def table(self) -> dict[str, Link]:
        """The links every partition's state publishes (each key owned by one partition)."""
        merged: dict[str, Link] = {}
        for state in self.states:
            for key, link in state.table().items():
                assert key not in merged, f"{key} published by two partitions"
                merged[key] = link
        return merged

    def topic(self) -> dict[str, Link]:
        """What a compacted links topic holds after every output so far."""
        latest: dict[str, Link | None] = {}
        for out in self.outputs:
            if out.destination == "links":
                assert out.key is not None
                latest[out.key.decode()] = (
                    None if out.value is None else LINK_DECODER.decode(out.value)
                )
        return {key: link for key, link in latest.items() if link is not None}

    def announced(self) -> list[IdentityEvent]:
        return [
            msgspec.json.decode(out.value or b"", type=IdentityEvent)
            for out in self.outputs
            if out.destination == "identity"
        ]


def test_phone_and_bsuid_links() -> None:
    obs = observe(identity_event(bsuid="US.A1", phone="+14155550100", username="ana"))
    assert isinstance(obs, Observation)
    assert (obs.phone, obs.bsuid, obs.links, obs.rotates) == (
        "acme/+14155550100",
        "acme/US.A1",
        True,
        False,
    )
    assert obs.at == T0
    assert obs.username == "ana"


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (identity_event(bsuid="US.A1"), "one_identifier"),
        (identity_event(phone="+14155550100"), "one_identifier"),
        (
            identity_event(bsuid="US.A1", phone="+14155550100", event_type="contact_shared"),
            "unattested_card",
        ),
        (
            identity_event(
                bsuid="US.B1",
                phone="+14155550100",
                previous="US.A1",
                event_type="identity_change",
                status=PHONE_CONTINUITY,
            ),
            "own_rotation",
        ),
    ],
)
def test_events_without_a_link(event: IdentityEvent, reason: str) -> None:
    assert observe(event) == reason


def test_attested_card_links() -> None:
    event = identity_event(
        bsuid="US.A1", phone="+14155550177", event_type="contact_shared", attested=True
    )
    obs = observe(event)
    assert isinstance(obs, Observation)
    assert obs.links


def test_identity_change_without_phone_is_a_rotation_only() -> None:
    event = identity_event(bsuid="US.B1", previous="US.A1", event_type="identity_change")
    obs = observe(event)
    assert isinstance(obs, Observation)
    assert (obs.links, obs.rotates, obs.system) == (False, True, True)
    assert obs.previous == "acme/US.A1"


def test_number_change_links_and_rotates() -> None:
    event = identity_event(
        bsuid="US.B1", phone="+14155550999", previous="US.A1", event_type="identity_change"
    )
    obs = observe(event)
    assert isinstance(obs, Observation)
    assert (obs.links, obs.rotates) == (True, True)
