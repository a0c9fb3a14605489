"""One identifier named twice: the customer's identifiers are the union of both sources.

A webhook may name the same customer in two places: a Meta item and its `contacts[]` entry, a
Vonage status's `to` and its `whatsapp.recipient`. Each place may carry only some identifiers;
together they say what is known (a message with only `from` whose contact carries `user_id` is
a phone + BSUID customer). Two places that carry different well-formed values for the same
identifier contradict each other about who the customer is: that is an `identity_conflict`,
never a silent pick of one side (docs/classification.md).

When the two values differ and one of them is malformed, the malformed one is kept, so that
classification reports it as `invalid_phone` / `invalid_bsuid`: a broken value is the more
precise diagnosis, and a conflict always means two real identifiers naming different people.
"""

from __future__ import annotations

from collections.abc import Callable

from processor.core.bsuid import parse_child, parse_parent
from processor.core.phone import normalize_phone


def _united(mine: str, theirs: str, parse: Callable[[str], object | None]) -> str | None:
    """The value both sides agree on (`""` when neither has one), the malformed one when they
    differ and one is malformed, or None when two well-formed values differ."""
    if not theirs or theirs == mine:
        return mine
    if not mine:
        return theirs
    # Rare: parsing runs only when the raw strings differ, which consistent webhooks never do.
    mine_parsed, theirs_parsed = parse(mine), parse(theirs)
    if mine_parsed is None:
        return mine
    if theirs_parsed is None:
        return theirs
    # Two spellings of one phone (`14155550123`, `+1 415 555 0123`) agree; BSUIDs are opaque
    # and case-sensitive, so two different strings never name the same one.
    return mine if mine_parsed == theirs_parsed else None


def phone_union(mine: str, theirs: str) -> str | None:
    return _united(mine, theirs, normalize_phone)


def bsuid_union(mine: str, theirs: str) -> str | None:
    return _united(mine, theirs, parse_child)


def parent_union(mine: str, theirs: str) -> str | None:
    return _united(mine, theirs, parse_parent)
