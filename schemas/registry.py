"""The number registry file (docs/configuration.md): one `[[number]]` table per business number."""

from __future__ import annotations

import msgspec

from schemas.base import OwnedStruct


class NumberEntry(OwnedStruct, frozen=True, kw_only=True):
    """One business WhatsApp number: at least one of `number` and `phone_number_id`."""

    number: str = ""
    phone_number_id: str = ""
    scope: str
    bsuid_enabled: bool = False


class RegistryFile(OwnedStruct, frozen=True, kw_only=True):
    number: list[NumberEntry] = msgspec.field(default_factory=list)
