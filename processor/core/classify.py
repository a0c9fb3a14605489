"""Identity classification per event: which identifiers are present and valid.

The rules in words: docs/classification.md."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

import msgspec

from processor.core.appearance import Appearance
from processor.core.bsuid import Bsuid, parse_child, parse_parent
from processor.core.phone import Phone, normalize_phone
from processor.core.records import DeadLetterCode, ItemError
from schemas.identity import IdentityClass

# Webhook times are unix seconds; anything past year 9999 cannot be rendered as ISO 8601.
_MAX_EPOCH = 253_402_300_799


class Identifiers(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A customer's identifiers, each validated, and the class they make."""

    identity_class: IdentityClass
    bsuid: Bsuid | None
    parent_bsuid: Bsuid | None
    previous_bsuid: Bsuid | None
    phone: Phone | None
    #: A BSUID body longer than today's limit (accepted, flagged on the output).
    legacy_length: bool


class Classified(Identifiers, frozen=True, kw_only=True, gc=False):
    """The identifiers of one appearance and when it happened."""

    occurred_at: int


#: Why identifiers cannot be published: the dead-letter code and what is wrong (the caller
#: says where).
Problem = tuple[DeadLetterCode, str]


def identify(bsuid: str, parent: str, previous: str, phone: str) -> Identifiers | Problem:
    """Validate the raw identifiers (`""`: absent) and name their class, or say what is wrong:
    the first malformed one, in this order, else a customer without any."""
    child = parent_id = previous_id = number = None
    if bsuid:
        child = parse_child(bsuid)
        if child is None:
            return "invalid_bsuid", "malformed BSUID"
    if parent:
        parent_id = parse_parent(parent)
        if parent_id is None:
            return "invalid_bsuid", "malformed parent BSUID"
    if previous:
        previous_id = parse_child(previous)
        if previous_id is None:
            return "invalid_bsuid", "malformed previous BSUID"
    if phone:
        number = normalize_phone(phone)
        if number is None:
            return "invalid_phone", "malformed phone"
    if child is None and number is None:
        return "missing_identity", "no customer identifier"
    return Identifiers(
        legacy_length=(child is not None and child.legacy_length)
        or (parent_id is not None and parent_id.legacy_length),
        identity_class=(
            "phone_only" if child is None else "bsuid_only" if number is None else "phone_and_bsuid"
        ),
        bsuid=child,
        parent_bsuid=parent_id,
        previous_bsuid=previous_id,
        phone=number,
    )


def classify(app: Appearance, fallback_time: int) -> Classified | ItemError:
    """Validate every identifier of the appearance and name its class, or say why not."""
    found = identify(app.bsuid, app.parent_bsuid, app.previous_bsuid, app.phone)
    if isinstance(found, tuple):
        code, what = found
        return ItemError(code, f"{what} at {app.path}")
    occurred_at = parse_timestamp(app.timestamp, fallback_time)
    if occurred_at is None:
        return ItemError("schema_mismatch", f"timestamp is not unix seconds at {app.path}")
    return Classified(
        legacy_length=found.legacy_length,
        identity_class=found.identity_class,
        bsuid=found.bsuid,
        parent_bsuid=found.parent_bsuid,
        previous_bsuid=found.previous_bsuid,
        phone=found.phone,
        occurred_at=occurred_at,
    )


def parse_timestamp(timestamp: str | int | None, fallback: int) -> int | None:
    """Unix seconds from a webhook; the record's own time when the body carries none."""
    if timestamp:
        try:
            seconds = int(timestamp)
        except ValueError:
            return None
    elif timestamp is None or timestamp == "":
        # The Kafka timestamp is whatever the producer set: checked like the body's own.
        seconds = fallback
    else:
        seconds = 0  # the integer 0: the epoch itself
    return seconds if 0 <= seconds <= _MAX_EPOCH else None


def iso_utc(seconds: int) -> str:
    """`2026-06-21T00:05:00Z`. strftime costs more than the rest of building an event, so
    everything up to the minute is cached (events of a stream cluster in time) and only the
    seconds are looked up."""
    minute, second = divmod(seconds, 60)
    return _iso_minute(minute) + _SECONDS[second]


_SECONDS = tuple(f"{second:02d}Z" for second in range(60))


@lru_cache(maxsize=4096)
def _iso_minute(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:")
