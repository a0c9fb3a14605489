"""The business number of an event and the enablement gate (docs/enablement.md)."""

from __future__ import annotations

from typing import Final

import msgspec

from processor.core.appearance import BusinessRef
from processor.core.phone import normalize_phone
from processor.core.records import ItemError
from processor.core.registry import Registry
from schemas.identity import GateDecision, IdentityClass

DROP_REASON: Final = "bsuid_not_enabled"


class ResolvedBusiness(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    scope: str
    number: str
    phone_number_id: str
    bsuid_enabled: bool


def resolve_business(
    ref: BusinessRef, registry: Registry, when: int
) -> ResolvedBusiness | ItemError:
    """The registry's view of the number at `when`; unknown numbers are not enabled and get a
    scope of their own (the WABA id, or the number) so they never merge with another scope."""
    number = ""
    if ref.number:
        phone = normalize_phone(ref.number)
        if phone is None:
            return ItemError("invalid_phone", "malformed business number")
        number = phone.e164
    state = registry.lookup(ref.phone_number_id, number, when)
    if state is not None:
        return ResolvedBusiness(
            scope=state.scope,
            number=state.number or number,
            phone_number_id=state.phone_number_id or ref.phone_number_id,
            bsuid_enabled=state.bsuid_enabled,
        )
    scope = ref.waba_id or number or ref.phone_number_id
    if not scope:
        return ItemError("schema_mismatch", "no business number (metadata or recipient) in body")
    return ResolvedBusiness(
        scope=scope, number=number, phone_number_id=ref.phone_number_id, bsuid_enabled=False
    )


def decide(identity_class: IdentityClass, bsuid_enabled: bool) -> GateDecision:
    """Phone-less customers pass only on enabled numbers; customers with a phone always pass."""
    return "drop" if identity_class == "bsuid_only" and not bsuid_enabled else "admit"
