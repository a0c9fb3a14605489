"""Control-topic records -> registry changes (docs/enablement.md), pure: the follower feeds them in.

A malformed record is an `invalid_control` dead letter and leaves the gate unchanged. A
tombstone is ignored on purpose: compaction deleting a key must never re-gate old traffic;
a number is turned off by publishing `bsuid_enabled = false`.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from processor.core.phone import normalize_phone
from processor.core.records import ItemError
from processor.core.registry import NumberState, Registry
from schemas.control import CHANGE_DECODER, CHANGE_ENCODER, EnablementChange, EnablementState

Applied = Literal["applied", "tombstone"]


def parse_change(key: bytes | None, value: bytes) -> EnablementChange | ItemError:
    try:
        change = CHANGE_DECODER.decode(value)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError too
        return ItemError("invalid_control", f"control record: {exc}")
    for state in (*change.history, change):
        phone = normalize_phone(state.number)
        if phone is None or phone.e164 != state.number:
            return ItemError(
                "invalid_control", f"control record: number {state.number!r} is not E.164"
            )
        if not state.scope or "/" in state.scope:
            return ItemError("invalid_control", "control record: scope empty or with '/'")
    if key is not None and key.decode("utf-8", "replace") != change.number:
        return ItemError("invalid_control", "control record: key differs from the number")
    return change


def apply_change(registry: Registry, change: EnablementChange) -> None:
    for state in (*change.history, change):
        registry.apply(
            NumberState(
                number=state.number,
                phone_number_id=state.phone_number_id,
                scope=state.scope,
                bsuid_enabled=state.bsuid_enabled,
            ),
            int(state.effective_at.timestamp()),
        )


def apply_record(registry: Registry, key: bytes | None, value: bytes | None) -> Applied | ItemError:
    """Apply one control record; a malformed one changes nothing."""
    if value is None:
        return "tombstone"
    change = parse_change(key, value)
    if isinstance(change, ItemError):
        return change
    apply_change(registry, change)
    return "applied"


def next_change(previous: EnablementChange | None, state: EnablementState) -> bytes:
    """The record `numbers set` publishes: the new state, with every earlier one as history."""
    history: list[EnablementState] = []
    if previous is not None:
        history = [*previous.history, _state_only(previous)]
    change = EnablementChange(
        number=state.number,
        phone_number_id=state.phone_number_id,
        scope=state.scope,
        bsuid_enabled=state.bsuid_enabled,
        effective_at=state.effective_at,
        history=sorted(history, key=lambda s: s.effective_at),
    )
    return CHANGE_ENCODER.encode(change)


def _state_only(change: EnablementChange) -> EnablementState:
    return EnablementState(
        number=change.number,
        phone_number_id=change.phone_number_id,
        scope=change.scope,
        bsuid_enabled=change.bsuid_enabled,
        effective_at=change.effective_at,
    )
