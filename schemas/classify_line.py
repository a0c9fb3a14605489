"""One line of `bsuid-processor classify` output (docs/configuration.md)."""

from __future__ import annotations

from typing import Literal

import msgspec

from schemas.identity import IdentityEvent

Route = Literal["identity", "dropped", "dlq"]


class ClassifyLine(msgspec.Struct, frozen=True, kw_only=True):
    route: Route
    key: str | None
    headers: dict[str, str]
    #: The identity event, or for a dead letter the input line as a string.
    value: IdentityEvent | str | msgspec.Raw
