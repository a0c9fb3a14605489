"""The link state of one partition: registers, applying an observation, the changelog.

Four registers, each keeping the maximum (event time, then eventId) of what it was told:

- `phones[phone key]`: the newest link fact of the phone;
- `bsuids[bsuid key]`: the newest link fact of the BSUID (with the newest profile seen);
- `previous[phone key]`: the newest fact of the phone naming another BSUID than the newest
  one (who held the phone before: the link's `previousBsuid` after a phone-continuity change);
- `rotations[old bsuid key]`: the newest identity_change that replaced the BSUID.

A maximum is commutative, associative and idempotent, so the registers (and what `view`
derives from them) do not depend on arrival order, and a replayed or duplicated event changes
nothing. Applying an event returns the link records whose content changed, the rotation it
revealed, and the changelog records of the registers it moved. No Kafka here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import msgspec

from processor.links.observe import Observation
from processor.links.view import (
    Resolved,
    claim_of,
    component,
    continuity,
    link_for,
    order,
    render,
    resolve,
)
from schemas.links import (
    FACT_DECODER,
    ROTATION_DECODER,
    STATE_ENCODER,
    Fact,
    Link,
    Rotation,
)

Register = Literal["p", "b", "v", "r"]
Value = Fact | Rotation
Write = tuple[Register, str, Value | None]


@dataclass(frozen=True, slots=True)
class LinkChange:
    """Publish `link` under `key`; None is a tombstone (the key's link was superseded)."""

    key: str
    link: Link | None


@dataclass(frozen=True, slots=True)
class Rotated:
    """Phone continuity: `phone` moved from BSUID `old` to `new` (identity keys)."""

    phone: str
    old: str
    new: str


@dataclass(slots=True)
class Applied:
    changes: list[LinkChange] = field(default_factory=list)
    rotated: Rotated | None = None
    #: (changelog key, value) per register the event moved, in the order they moved.
    changelog: list[tuple[bytes, bytes]] = field(default_factory=list)


class LinkState:
    def __init__(self) -> None:
        self.phones: dict[str, Fact] = {}
        self.bsuids: dict[str, Fact] = {}
        self.previous: dict[str, Fact] = {}
        self.rotations: dict[str, Rotation] = {}
        #: BSUID key -> the BSUID keys whose newest rotation names it (an index, not logged).
        self.preds: dict[str, set[str]] = {}
        #: BSUID key -> the phone keys whose `previous` register names it (an index too).
        self.previous_of: dict[str, set[str]] = {}

    def apply(self, obs: Observation, *, link: bool = True, rotation: bool = True) -> Applied:
        """Apply the link part and/or the rotation part of `obs` (the repartition record's
        role says which this partition owns)."""
        writes = self._plan(obs, link=link and obs.links, rotation=rotation and obs.rotates)
        if not writes:
            return Applied()  # older, duplicate or replayed: nothing moves, nothing is published
        if self._unseen(obs, writes):
            return self._first_link(writes)
        undo: list[Write] = [(kind, key, self._get(kind, key)) for kind, key, _ in writes]
        roots = (obs.phone, obs.bsuid, obs.previous)
        # What each key published before the event and what it publishes after, read in the
        # after-state and then (undo) in the before-state: keys reachable in either count.
        self._set_all(writes)
        keys = component(self, roots)
        after = {key: resolve(self, key) for key in keys}
        # Only a link fact that is not Meta's own identity_change can reveal a rotation.
        watch = obs.phone if link and obs.links and not obs.system else ""
        pair_after = continuity(self, watch) if watch else None
        self._set_all(undo)
        keys |= component(self, roots)
        before = {key: resolve(self, key) for key in keys}
        pair_before = continuity(self, watch) if watch else None
        self._set_all(writes)
        for key in keys - after.keys():
            after[key] = resolve(self, key)
        applied = Applied(changelog=[_changelog(kind, key, value) for kind, key, value in writes])
        for key in sorted(keys):
            new, old = after[key], before[key]
            if new is None:
                if old is not None:
                    applied.changes.append(LinkChange(key, None))
            elif old is None or new.content() != old.content():
                # since/eventId alone do not republish: a link re-confirmed by every message
                # would otherwise double the identity topic's traffic on the links topic.
                applied.changes.append(LinkChange(key, render(new)))
        if pair_after is not None and pair_after != pair_before:
            old_bsuid, new_bsuid = pair_after
            if resolve(self, old_bsuid) is None:  # still linked elsewhere: not a rotation
                applied.rotated = Rotated(watch, old_bsuid, new_bsuid)
        return applied

    def _unseen(self, obs: Observation, writes: list[Write]) -> bool:
        """A phone and a BSUID this state never heard of, and no rotation: the common case
        of a new customer, whose only possible outcome is their new link."""
        return (
            [kind for kind, _key, _value in writes] == ["b", "p"]
            and obs.phone not in self.phones
            and obs.bsuid not in self.bsuids
            and obs.bsuid not in self.preds
            and obs.bsuid not in self.rotations
        )

    def _first_link(self, writes: list[Write]) -> Applied:
        # What `apply` would find by comparing before and after: both keys link to each other.
        self._set_all(writes)
        fact = writes[0][2]
        assert isinstance(fact, Fact)
        link = render(Resolved(fact.bsuid, fact.phone, claim_of(fact), fact.previous))
        changes = [LinkChange(key, link) for key in sorted((fact.phone, fact.bsuid))]
        changelog = [_changelog(kind, key, value) for kind, key, value in writes]
        return Applied(changes=changes, changelog=changelog)

    def _plan(self, obs: Observation, *, link: bool, rotation: bool) -> list[Write]:
        writes: list[Write] = []
        if link:
            profiled = bool(obs.parent or obs.username)
            fact = Fact(
                phone=obs.phone,
                bsuid=obs.bsuid,
                at=obs.at,
                event_id=obs.event_id,
                system=obs.system,
                previous=obs.previous,
                parent=obs.parent,
                username=obs.username,
                profile_at=obs.at if profiled else 0,
                profile_id=obs.event_id if profiled else "",
            )
            own = self.bsuids.get(obs.bsuid)
            merged = _merge(own, fact)
            if merged is not own:
                writes.append(("b", obs.bsuid, merged))
            # While the fact is the newest of both keys one object serves both registers.
            shared = merged if order(merged) == order(fact) else fact
            newest = self.phones.get(obs.phone)
            if newest is None or order(fact) > order(newest):
                writes.append(("p", obs.phone, shared))
                if newest is not None and newest.bsuid != obs.bsuid:
                    # The replaced fact was the newest of all: it is the newest "other" one.
                    writes.append(("v", obs.phone, newest))
            elif newest.bsuid != obs.bsuid:
                before = self.previous.get(obs.phone)
                if before is None or order(fact) > order(before):
                    writes.append(("v", obs.phone, shared))
        if rotation:
            change = Rotation(
                old=obs.previous,
                new=obs.bsuid,
                phone=obs.phone,
                at=obs.at,
                event_id=obs.event_id,
                parent=obs.parent,
                username=obs.username,
            )
            current = self.rotations.get(obs.previous)
            if current is None or order(change) > order(current):
                writes.append(("r", obs.previous, change))
        return writes

    # -- registers -------------------------------------------------------------------------

    def _get(self, kind: Register, key: str) -> Value | None:
        if kind == "r":
            return self.rotations.get(key)
        return self._facts(kind).get(key)

    def _facts(self, kind: Register) -> dict[str, Fact]:
        return self.phones if kind == "p" else self.bsuids if kind == "b" else self.previous

    def _set_all(self, writes: list[Write]) -> None:
        for kind, key, value in writes:
            self._set(kind, key, value)

    def _set(self, kind: Register, key: str, value: Value | None) -> None:
        if kind == "r":
            current = self.rotations.pop(key, None)
            if current is not None:
                _unindex(self.preds, current.new, key)
            if value is not None:
                assert isinstance(value, Rotation)
                self.rotations[key] = value
                self.preds.setdefault(value.new, set()).add(key)
            return
        facts = self._facts(kind)
        replaced = facts.pop(key, None)
        if kind == "v" and replaced is not None:
            _unindex(self.previous_of, replaced.bsuid, key)
        if value is not None:
            assert isinstance(value, Fact)
            facts[key] = value
            if kind == "v":
                self.previous_of.setdefault(value.bsuid, set()).add(key)

    # -- changelog -------------------------------------------------------------------------

    def restore(self, key: bytes | None, value: bytes | None) -> None:
        """Apply one changelog record (restore replays a partition's changelog in order)."""
        if key is None or value is None:
            return  # registers are never deleted: no tombstone of ours is in the changelog
        kind = key[:1].decode()
        if kind == "r":
            change = ROTATION_DECODER.decode(value)
            self._set("r", change.old, change)
            return
        fact = FACT_DECODER.decode(value)
        if fact.profile_id == fact.event_id:
            # Decoding made two equal objects of what was one: share them again.
            fact = msgspec.structs.replace(fact, profile_at=fact.at, profile_id=fact.event_id)
        # The phone and BSUID registers usually hold the same fact: keep one object, and use
        # the fact's own strings as dict keys, so restored state is as small as live state.
        for other in (self.bsuids.get(fact.bsuid), self.phones.get(fact.phone)):
            if other is not None and other == fact:
                fact = other
                break
        if kind == "p":
            self.phones[fact.phone] = fact
        elif kind == "b":
            self.bsuids[fact.bsuid] = fact
        elif kind == "v":
            self._set("v", fact.phone, fact)

    def table(self) -> dict[str, Link]:
        """Every key's current link: what the compacted links topic converges to."""
        keys = set(self.phones) | set(self.bsuids) | set(self.preds)
        links = {key: link_for(self, key) for key in keys}
        return {key: link for key, link in links.items() if link is not None}


def _merge(own: Fact | None, fact: Fact) -> Fact:
    """The BSUID register after `fact`: the newest fact, with the newest non-empty profile."""
    if own is None:
        return fact
    if order(fact) > order(own):
        if fact.profile_id or not own.profile_id:
            return fact
        return msgspec.structs.replace(
            fact,
            parent=own.parent,
            username=own.username,
            profile_at=own.profile_at,
            profile_id=own.profile_id,
        )
    if fact.profile_id and (fact.at, fact.event_id) > (own.profile_at, own.profile_id):
        return msgspec.structs.replace(
            own,
            parent=fact.parent,
            username=fact.username,
            profile_at=fact.at,
            profile_id=fact.event_id,
        )
    return own


def _unindex(index: dict[str, set[str]], name: str, key: str) -> None:
    keys = index[name]
    keys.discard(key)
    if not keys:
        del index[name]


def _changelog(kind: Register, key: str, value: Value | None) -> tuple[bytes, bytes]:
    assert value is not None
    return f"{kind}/{key}".encode(), STATE_ENCODER.encode(value)
