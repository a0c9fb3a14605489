"""The links stage as two pure steps, like two Kafka Streams sub-topologies.

1. `route`: an identity record -> repartition records. The identity topic is keyed by BSUID
   (or by phone when there is none), so two events of one customer may sit on different
   partitions. Link facts are re-keyed by `<scope>/<phone>`: a BSUID never changes phone (a
   new phone gives a new BSUID), so every fact about a BSUID and every BSUID a
   phone ever had meet in the phone's partition, and rotation by phone continuity is a local
   comparison there. A rotation also concerns the previous BSUID, whose phone the event does
   not carry (a number change names the new phone; `user_changed_user_id` none): it is sent
   to every partition, and the one holding the previous BSUID applies it. Rotations are rare,
   so the copies cost little.
2. `process`: a repartition record + its partition's state -> link records, tombstones, the
   announced identity_change, and the changelog records of the registers it moved.

The worker, the tests and any offline replay call these same functions.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Final, Literal

import msgspec

from processor.core.partitioner import partition_for
from processor.core.records import Headers
from processor.links.observe import Observation, observe
from processor.links.rotation import DERIVED_HEADER, rotation_event
from processor.links.state import LinkState
from schemas.identity import IDENTITY_EVENT_DECODER, IdentityEvent
from schemas.links import LINK_ENCODER

Destination = Literal["repartition", "links", "identity", "changelog"]
Role = Literal["link", "rotation", "both"]

#: Header of a repartition record: which part of the event its partition applies.
ROLE_HEADER: Final = "links-role"
_ROLES: Final[dict[bytes, Role]] = {b"link": "link", b"rotation": "rotation", b"both": "both"}
_EVENT_ENCODER = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class LinkOutput:
    destination: Destination
    key: bytes | None
    #: None: a tombstone.
    value: bytes | None
    headers: Headers = field(default_factory=list)
    #: Explicit partition (repartition copies, changelog); None: by key, like Java clients.
    partition: int | None = None


@dataclass
class LinkStats:
    routed: int = 0
    processed: int = 0
    skips: Counter[str] = field(default_factory=Counter)
    link_records: int = 0
    tombstones: int = 0
    rotations: int = 0
    #: Records written, by destination (repartition, links, identity, changelog).
    outputs: Counter[str] = field(default_factory=Counter)


@dataclass
class LinksTopology:
    #: Partitions of the repartition topic (and of the changelog: the same count).
    partitions: int
    stats: LinkStats = field(default_factory=LinkStats)

    def route(self, value: bytes | None) -> list[LinkOutput]:
        """Repartition records for one identity record (none when it says nothing on links)."""
        found = self._observe(value)
        if found is None:
            return []
        _event, obs = found
        self.stats.routed += 1
        outputs: list[LinkOutput] = []
        home = -1
        if obs.links:
            key = obs.phone.encode()
            home = partition_for(key, self.partitions)
            role = b"both" if obs.rotates else b"link"
            outputs.append(LinkOutput("repartition", key, value, [(ROLE_HEADER, role)], home))
        if obs.rotates:
            key = obs.previous.encode()
            outputs += [
                LinkOutput("repartition", key, value, [(ROLE_HEADER, b"rotation")], partition)
                for partition in range(self.partitions)
                if partition != home
            ]
        self.stats.outputs["repartition"] += len(outputs)
        return outputs

    def process(
        self, state: LinkState, value: bytes | None, role: bytes | None
    ) -> tuple[list[LinkOutput], list[tuple[bytes, bytes]]]:
        """Outputs and changelog records of one repartition record."""
        found = self._observe(value)
        if found is None:
            return [], []
        event, obs = found
        part = _ROLES.get(role or b"", "both")
        applied = state.apply(obs, link=part != "rotation", rotation=part != "link")
        self.stats.processed += 1
        outputs: list[LinkOutput] = []
        for change in applied.changes:
            if change.link is None:
                self.stats.tombstones += 1
                outputs.append(LinkOutput("links", change.key.encode(), None))
            else:
                self.stats.link_records += 1
                encoded = LINK_ENCODER.encode(change.link)
                outputs.append(LinkOutput("links", change.key.encode(), encoded))
        if applied.rotated is not None:
            self.stats.rotations += 1
            announced = rotation_event(event, applied.rotated)
            outputs.append(
                LinkOutput(
                    "identity",
                    announced.identity.key.encode(),
                    _EVENT_ENCODER.encode(announced),
                    [DERIVED_HEADER],
                )
            )
        counts = self.stats.outputs
        for output in outputs:
            counts[output.destination] += 1
        counts["changelog"] += len(applied.changelog)
        return outputs, applied.changelog

    def _observe(self, value: bytes | None) -> tuple[IdentityEvent, Observation] | None:
        try:
            event = IDENTITY_EVENT_DECODER.decode(value or b"")
        except msgspec.DecodeError:
            # The identity topic is this processor's own output: a record it cannot read is
            # a bug elsewhere. Counted and passed over, never a reason to stop the links.
            self.stats.skips["undecodable"] += 1
            return None
        obs = observe(event)
        if isinstance(obs, str):
            self.stats.skips[obs] += 1
            return None
        return event, obs
