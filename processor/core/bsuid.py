"""Business-Scoped User IDs (docs/classification.md): child `CC.body`, parent `CC.ENT.body`.

Bodies are opaque and case-sensitive: never trimmed, upper-cased or parsed as numbers.
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

#: Since Feb 2026 bodies are at most 128 characters; older payloads may carry up to 256.
MAX_BODY: Final = 128
MAX_LEGACY_BODY: Final = 256

_CHILD = re.compile(r"[A-Z]{2}\.[A-Za-z0-9]{1,256}")
_PARENT = re.compile(r"[A-Z]{2}\.ENT\.[A-Za-z0-9]{1,256}")


class Bsuid(msgspec.Struct, frozen=True, gc=False):
    value: str
    #: The body is longer than today's limit: accepted, and flagged on the output.
    legacy_length: bool

    @property
    def country(self) -> str:
        return self.value[:2]


def parse_child(text: str) -> Bsuid | None:
    """A child BSUID, or None when `text` is not one (a parent BSUID is not a child)."""
    if _CHILD.fullmatch(text) is None:
        return None
    return Bsuid(text, len(text) - 3 > MAX_BODY)


def parse_parent(text: str) -> Bsuid | None:
    if _PARENT.fullmatch(text) is None:
        return None
    return Bsuid(text, len(text) - 7 > MAX_BODY)


def looks_like_bsuid(text: str) -> bool:
    """Tells a BSUID-shaped identifier from a phone in fields that may carry either."""
    return len(text) > 3 and text[2] == "." and text[:2].isalpha()
