"""The business of each event, resolved once per number and registry state (docs/enablement.md).

A stream names a handful of business numbers over and over; what the event says about one
(its `business` object, its two possible gates, the key of its dropped events) depends only on
the number as the webhook names it and the registry's state for it at the event's time. So it
is worked out once per (number, state) into a `BusinessView`, its parts already encoded, and
looked up per event. The registry changes only between batches (control records); a batch
starts by dropping everything worked out before the last change (`sync`).

`gate.resolve_business` states the rules; this module caches their outcome and is tested
against it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

import msgspec

from processor.core.appearance import BusinessRef
from processor.core.gate import DROP_REASON, ResolvedBusiness, resolve_business
from processor.core.phone import normalize_phone
from processor.core.records import ItemError
from processor.core.registry import SINCE_FOREVER, Registry, Timeline
from schemas.identity import Business, Gate

_ENCODER = msgspec.json.Encoder()
#: Distinct business numbers remembered; more (a flood of made-up numbers) starts afresh.
MAX_NUMBERS: Final = 4096


def _raw(part: msgspec.Struct) -> msgspec.Raw:
    return msgspec.Raw(_ENCODER.encode(part))


class BusinessView(msgspec.Struct, frozen=True, gc=False, eq=False):
    """One business number in one registry state, as events show it.

    `eq=False`: compared and hashed by identity, which is what a cache key needs (one view per
    number and state, kept alive by the keys that hold it) and cheaper than by field."""

    scope: str
    enabled: bool
    #: The Kafka key of its dropped events: the E.164 business number.
    dropped_key: bytes
    business: msgspec.Raw
    #: The encoded `gate` of an admitted and of a dropped event.
    admit_gate: msgspec.Raw
    drop_gate: msgspec.Raw


def business_view(resolved: ResolvedBusiness) -> BusinessView:
    return _business_view(
        resolved.scope, resolved.number, resolved.phone_number_id, resolved.bsuid_enabled
    )


@lru_cache(maxsize=MAX_NUMBERS)
def _business_view(scope: str, number: str, phone_number_id: str, enabled: bool) -> BusinessView:
    """One object per distinct view, whichever pipeline or registry version asks: customer
    views are cached by business view identity (`processor.core.view`)."""
    business = Business(scope=scope, number=number, phone_number_id=phone_number_id)
    return BusinessView(
        scope=scope,
        enabled=enabled,
        dropped_key=number.encode(),
        business=_raw(business),
        admit_gate=_raw(Gate(number_enabled=enabled, decision="admit", reason="")),
        drop_gate=_raw(Gate(number_enabled=enabled, decision="drop", reason=DROP_REASON)),
    )


class _Number:
    """What one business reference resolves to: one view whatever the time (a number the
    registry does not know, or knows in one state since forever), or one view per state of
    its timeline, made when first needed."""

    __slots__ = ("fixed", "timeline", "views")

    def __init__(self, timeline: Timeline | None, fixed: BusinessView | None) -> None:
        self.timeline = timeline
        self.fixed = fixed
        self.views: list[BusinessView | None] = [None] * len(timeline.states) if timeline else []


class Businesses:
    """Business views by the business reference a webhook makes."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._version = -1
        # By the whole reference (a frozen Struct: hashed and compared field by field in C).
        self._numbers: dict[BusinessRef, _Number | ItemError] = {}

    def sync(self) -> None:
        """Forget everything worked out before the registry last changed: once per batch."""
        if self.registry.version != self._version:
            self._version = self.registry.version
            self._numbers.clear()

    def resolve(self, ref: BusinessRef, when: int) -> BusinessView | ItemError:
        """The view of the business at `when` (unix seconds), or why the event has none."""
        number = self._numbers.get(ref)
        if number is None:
            number = self._learn(ref)
        if isinstance(number, ItemError):
            return number
        if number.fixed is not None:
            return number.fixed
        timeline = number.timeline
        assert timeline is not None
        index = timeline.index_at(when)
        if index < 0:
            # Traffic older than the number's first registry state: gated as unknown then.
            return _view(resolve_business(ref, self.registry, when))
        view = number.views[index]
        if view is None:
            view = number.views[index] = _view(resolve_business(ref, self.registry, when))
        return view

    def _learn(self, ref: BusinessRef) -> _Number | ItemError:
        if len(self._numbers) >= MAX_NUMBERS:
            self._numbers.clear()
        # Resolved once at the end of time: a malformed number, or an unknown one (whose view
        # never depends on time), is the same at any time.
        resolved = resolve_business(ref, self.registry, 2**63 - 1)
        if isinstance(resolved, ItemError):
            self._numbers[ref] = resolved
            return resolved
        timeline = self.registry.timeline(ref.phone_number_id, _e164(ref.number))
        if timeline is None:
            number = _Number(None, business_view(resolved))
        elif timeline.times == [SINCE_FOREVER]:
            # One state, in force since forever (the registry file): the same at any time.
            number = _Number(timeline, business_view(resolved))
        else:
            number = _Number(timeline, None)
        self._numbers[ref] = number
        return number


def _e164(number: str) -> str:
    """The number as `resolve_business` asks the registry about it (it resolved, so it is
    either empty or well-formed)."""
    phone = normalize_phone(number) if number else None
    return phone.e164 if phone is not None else ""


def _view(resolved: ResolvedBusiness | ItemError) -> BusinessView:
    # Only numbers that resolved at the end of time get here, and a registry state never
    # makes a number malformed.
    assert not isinstance(resolved, ItemError)
    return business_view(resolved)
