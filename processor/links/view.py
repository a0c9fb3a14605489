"""What the link registers publish: the current link of a phone key or a BSUID key.

Every answer here is a pure function of the registers, and every register is a maximum over
the facts it has seen (by event time, then eventId). So the links a partition publishes depend
on the SET of events it processed, never on their order: a late older event cannot win, and a
chain A -> B -> C ends at C however it arrives.

A BSUID *claims* one phone: the phone of its newest own fact, or, when a rotation names it as
the new BSUID, the phone that comes with the rotation (a number change) or the phone its
predecessor had (a BSUID change without phone). A phone is *held* by the BSUID of its newest
fact, followed forward through rotations while that BSUID was replaced. A phone and a BSUID
are linked when the BSUID holding the phone claims exactly that phone, and was not replaced
after its claim.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple

from processor.links.observe import bare, is_phone_key
from schemas.links import Fact, Link, Rotation

if TYPE_CHECKING:
    from processor.links.state import LinkState

Order = tuple[int, str]


def order(item: Fact | Rotation) -> Order:
    """Event time first; the eventId breaks ties so every partition decides alike."""
    return (item.at, item.event_id)


@dataclass(frozen=True, slots=True)
class Claim:
    phone: str
    at: int
    event_id: str
    parent: str
    username: str
    #: The BSUID key this claim replaced, when it came from a rotation or a system message.
    previous: str


def claim_of(own: Fact) -> Claim:
    """The claim a BSUID's own newest fact makes."""
    return Claim(own.phone, own.at, own.event_id, own.parent, own.username, own.previous)


def claim(state: LinkState, bsuid: str, before: Order | None = None) -> Claim | None:
    """The phone `bsuid` claims (only from facts older than `before`, when given)."""
    return _claim(state, bsuid, before, frozenset())


def _claim(
    state: LinkState, bsuid: str, before: Order | None, seen: frozenset[str]
) -> Claim | None:
    best: Claim | None = None
    best_rank: tuple[int, str, str, int] | None = None
    own = state.bsuids.get(bsuid)
    if own is not None and (before is None or order(own) < before):
        best = claim_of(own)
        # Own facts win ties with a rotation of the same event (same phone anyway).
        best_rank = (own.at, own.event_id, own.phone, 1)
    seen = seen | {bsuid}
    for old in sorted(state.preds.get(bsuid, ())):
        rotation = state.rotations[old]
        if before is not None and order(rotation) >= before:
            continue
        phone, parent, username = rotation.phone, rotation.parent, rotation.username
        if not phone:
            # A BSUID change without phone: the new BSUID takes the phone its predecessor
            # had when it was replaced (cycles of rotations end here).
            prior = None if old in seen else _claim(state, old, order(rotation), seen)
            if prior is None:
                continue
            phone = prior.phone
            parent, username = parent or prior.parent, username or prior.username
        rank = (rotation.at, rotation.event_id, phone, 0)
        if best_rank is None or rank > best_rank:
            best = Claim(phone, rotation.at, rotation.event_id, parent, username, old)
            best_rank = rank
    return best


def live_claim(state: LinkState, bsuid: str) -> Claim | None:
    """The claim of `bsuid` unless a rotation replaced it after that claim."""
    found = claim(state, bsuid)
    replaced = state.rotations.get(bsuid)
    if found is None or (replaced is not None and order(replaced) > (found.at, found.event_id)):
        return None
    return found


def holder(state: LinkState, phone: str) -> tuple[str, Claim] | None:
    """The BSUID linked to `phone` and its claim, or None when the phone is not linked."""
    fact = state.phones.get(phone)
    if fact is None:
        return None
    bsuid, seen = fact.bsuid, set()
    while bsuid not in seen:
        seen.add(bsuid)
        found = claim(state, bsuid)
        replaced = state.rotations.get(bsuid)
        if replaced is None or (
            found is not None and order(replaced) <= (found.at, found.event_id)
        ):
            return (bsuid, found) if found is not None and found.phone == phone else None
        if replaced.phone and replaced.phone != phone:
            return None  # the customer moved to another number: this one is released
        bsuid = replaced.new
    return None


class Resolved(NamedTuple):
    """A key's current link, before it is rendered as a `Link`."""

    bsuid: str
    phone: str
    claim: Claim
    previous: str

    def content(self) -> tuple[str, str, str, str, str]:
        """What a consumer sees change; since/eventId alone are not a change of the link."""
        claim = self.claim
        return (self.bsuid, self.phone, claim.parent, claim.username, self.previous)


def resolve(state: LinkState, key: str) -> Resolved | None:
    """The link a phone key or BSUID key publishes (None: no link, a tombstone)."""
    if is_phone_key(key):
        held = holder(state, key)
        if held is None:
            return None
        (bsuid, found), phone = held, key
    else:
        live = live_claim(state, key)
        if live is None:
            return None
        held = holder(state, live.phone)
        if held is None or held[0] != key:
            return None
        (bsuid, found), phone = held, live.phone
    previous, _by_continuity = _previous(state, phone, bsuid, found)
    return Resolved(bsuid, phone, found, previous)


def render(resolved: Resolved) -> Link:
    bsuid, phone, found, previous = resolved
    return Link(
        scope=bsuid[: bsuid.index("/")],
        bsuid=bare(bsuid),
        phone=bare(phone),
        parent_bsuid=found.parent,
        username=found.username,
        since=datetime.fromtimestamp(found.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        event_id=found.event_id,
        previous_bsuid=bare(previous) if previous else "",
    )


def link_for(state: LinkState, key: str) -> Link | None:
    resolved = resolve(state, key)
    return None if resolved is None else render(resolved)


def continuity(state: LinkState, phone: str) -> tuple[str, str] | None:
    """(old, new) BSUID keys when `phone` is linked to `new` and, by phone continuity alone
    (no rotation or system message says so), `old` held it before."""
    held = holder(state, phone)
    if held is None:
        return None
    old, by_continuity = _previous(state, phone, *held)
    return (old, held[0]) if by_continuity else None


def _previous(state: LinkState, phone: str, bsuid: str, found: Claim) -> tuple[str, bool]:
    """The BSUID key the link replaced, and whether only phone continuity says so."""
    if found.previous:
        return found.previous, False
    before = state.previous.get(phone)
    if before is None or before.bsuid == bsuid:
        return "", False
    moved = state.rotations.get(before.bsuid)
    if moved is not None and order(moved) > order(before):
        # Meta said where that BSUID went. If elsewhere (a number change), the phone was
        # later given to someone else: not a predecessor of this BSUID.
        return (before.bsuid, False) if moved.new == bsuid else ("", False)
    return before.bsuid, True


def component(state: LinkState, roots: Iterable[str]) -> set[str]:
    """Every key whose link may read a register of `roots`: what one event can change.

    The edges are the reads of `resolve` (phone -> its newest BSUID and previous holder,
    BSUID -> its phone, its rotation, the BSUIDs rotated into it and the phones it held
    before), so a key outside the component cannot change when the roots' registers do.
    """
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        key = todo.pop()
        if not key or key in seen:
            continue
        seen.add(key)
        if is_phone_key(key):
            facts = (state.phones.get(key), state.previous.get(key))
            todo.extend(fact.bsuid for fact in facts if fact is not None)
            continue
        own = state.bsuids.get(key)
        if own is not None:
            todo.append(own.phone)
        rotation = state.rotations.get(key)
        if rotation is not None:
            todo += (rotation.new, rotation.phone)
        todo += state.preds.get(key, ())
        # A phone's previousBsuid reads the rotation of the BSUID that held it before.
        todo += state.previous_of.get(key, ())
    return seen
