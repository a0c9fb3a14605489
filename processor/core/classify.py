"""Identity classification per event (CONTRACT 3): which identifiers are present and valid."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

import msgspec

from processor.core.appearance import Appearance
from processor.core.bsuid import Bsuid, parse_child, parse_parent
from processor.core.phone import Phone, normalize_phone
from processor.core.records import ItemError
from schemas.identity import IdentityClass

# Webhook times are unix seconds; anything past year 9999 cannot be rendered as ISO 8601.
_MAX_EPOCH = 253_402_300_799


class Classified(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    identity_class: IdentityClass
    bsuid: Bsuid | None
    parent_bsuid: Bsuid | None
    previous_bsuid: Bsuid | None
    phone: Phone | None
    occurred_at: int
    #: A BSUID body longer than today's limit (accepted, flagged on the output).
    legacy_length: bool


def classify(app: Appearance, fallback_time: int) -> Classified | ItemError:
    """Validate every identifier of the appearance and name its class, or say why not."""
    bsuid = parent = previous = None
    if app.bsuid:
        bsuid = parse_child(app.bsuid)
        if bsuid is None:
            return ItemError("invalid_bsuid", f"malformed BSUID at {app.path}")
    if app.parent_bsuid:
        parent = parse_parent(app.parent_bsuid)
        if parent is None:
            return ItemError("invalid_bsuid", f"malformed parent BSUID at {app.path}")
    if app.previous_bsuid:
        previous = parse_child(app.previous_bsuid)
        if previous is None:
            return ItemError("invalid_bsuid", f"malformed previous BSUID at {app.path}")
    phone = None
    if app.phone:
        phone = normalize_phone(app.phone)
        if phone is None:
            return ItemError("invalid_phone", f"malformed phone at {app.path}")
    if bsuid is None and phone is None:
        return ItemError("missing_identity", f"no customer identifier at {app.path}")
    occurred_at = parse_timestamp(app.timestamp, fallback_time)
    if occurred_at is None:
        return ItemError("schema_mismatch", f"timestamp is not unix seconds at {app.path}")
    identity_class: IdentityClass = (
        "phone_only" if bsuid is None else "bsuid_only" if phone is None else "phone_and_bsuid"
    )
    return Classified(
        legacy_length=(bsuid is not None and bsuid.legacy_length)
        or (parent is not None and parent.legacy_length),
        identity_class=identity_class,
        bsuid=bsuid,
        parent_bsuid=parent,
        previous_bsuid=previous,
        phone=phone,
        occurred_at=occurred_at,
    )


def parse_timestamp(timestamp: str | int | None, fallback: int) -> int | None:
    """Unix seconds from a webhook; the record's own time when the body carries none."""
    if timestamp is None or timestamp == "":
        # The Kafka timestamp is whatever the producer set: checked like the body's own.
        seconds = fallback
    else:
        try:
            seconds = int(timestamp)
        except ValueError:
            return None
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
