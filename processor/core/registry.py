"""The number registry over time (docs/enablement.md): which numbers exist, their scope, enablement.

The registry file is the base state, in force since forever; the control topic adds changes
with an `effectiveAt`. A lookup names the event's own time, so a replay of old traffic is
gated as it was gated then.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

import msgspec

from processor.core.phone import normalize_phone
from schemas.registry import NumberEntry

#: When the registry file's states take effect: before any traffic.
SINCE_FOREVER = -(2**63)


class NumberState(msgspec.Struct, frozen=True, kw_only=True):
    number: str
    phone_number_id: str
    scope: str
    bsuid_enabled: bool


class Timeline:
    """States of one number, ordered by the time they take effect."""

    __slots__ = ("states", "times")

    def __init__(self) -> None:
        self.times: list[int] = []
        self.states: list[NumberState] = []

    def put(self, effective_at: int, state: NumberState) -> None:
        index = bisect.bisect_right(self.times, effective_at)
        if index and self.times[index - 1] == effective_at:
            # A later record for the same instant wins: the control topic is the log of truth.
            self.states[index - 1] = state
            return
        self.times.insert(index, effective_at)
        self.states.insert(index, state)

    def at(self, when: int) -> NumberState | None:
        index = self.index_at(when)
        return None if index < 0 else self.states[index]

    def index_at(self, when: int) -> int:
        """Where in `states` the state in force at `when` is; -1 before the first."""
        times = self.times
        if times[-1] <= when:  # the common case: traffic of today, no change since
            return len(times) - 1
        return bisect.bisect_right(times, when) - 1


class Registry:
    """Numbers by Meta `phone_number_id` and by E.164 number, each with its history."""

    def __init__(self, entries: Iterable[NumberEntry] = ()) -> None:
        self._by_id: dict[str, Timeline] = {}
        self._by_number: dict[str, Timeline] = {}
        #: Changes with every `apply`: what was worked out from the registry before is stale.
        self.version = 0
        for entry in entries:
            self.apply(to_state(entry), SINCE_FOREVER)

    def apply(self, state: NumberState, effective_at: int) -> None:
        self.version += 1
        if state.phone_number_id:
            self._by_id.setdefault(state.phone_number_id, Timeline()).put(effective_at, state)
        if state.number:
            self._by_number.setdefault(state.number, Timeline()).put(effective_at, state)

    def lookup(self, phone_number_id: str, number: str, when: int) -> NumberState | None:
        timeline = self.timeline(phone_number_id, number)
        return None if timeline is None else timeline.at(when)

    def timeline(self, phone_number_id: str, number: str) -> Timeline | None:
        """The states of the number, by `phone_number_id` first (the id Meta names a number
        by), else by E.164 number; None for a number the registry does not know."""
        if phone_number_id:
            timeline = self._by_id.get(phone_number_id)
            if timeline is not None:
                return timeline
        if number:
            return self._by_number.get(number)
        return None

    def history(self) -> list[tuple[int, NumberState]]:
        """Every (effective_at, state) known, oldest first: for `numbers list`."""
        seen: dict[int, tuple[int, NumberState]] = {}
        for timelines in (self._by_number, self._by_id):
            for timeline in timelines.values():
                for when, state in zip(timeline.times, timeline.states, strict=True):
                    seen.setdefault(id(state), (when, state))
        return sorted(seen.values(), key=lambda pair: (pair[0], pair[1].number))

    def current(self) -> list[NumberState]:
        latest: dict[tuple[str, str], NumberState] = {}
        for _when, state in self.history():
            latest[(state.number, state.phone_number_id)] = state
        return list(latest.values())


def to_state(entry: NumberEntry) -> NumberState:
    """A registry entry with its number in E.164 (validated by the loader beforehand)."""
    phone = normalize_phone(entry.number) if entry.number else None
    return NumberState(
        number=phone.e164 if phone else entry.number,
        phone_number_id=entry.phone_number_id,
        scope=entry.scope,
        bsuid_enabled=entry.bsuid_enabled,
    )
