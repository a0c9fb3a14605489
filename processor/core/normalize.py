"""Build the identity event (docs/schemas.md) from a classified appearance and its gate decision."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from processor.core.appearance import Appearance
from processor.core.classify import Classified, Identifiers, iso_utc
from processor.core.gate import DROP_REASON, ResolvedBusiness, decide
from schemas.identity import (
    Business,
    Customer,
    Gate,
    Identity,
    IdentityEvent,
    MessageRef,
    Reach,
    Source,
)


def event_id(natural_key: tuple[str, ...]) -> str:
    """Deterministic id from the natural key: retries and replays give the same id."""
    return hashlib.blake2b("\x1f".join(natural_key).encode(), digest_size=16).hexdigest()


def identity_key(scope: str, found: Identifiers) -> str:
    """`<scope>/<bsuid>` when a BSUID is known, else `<scope>/<E.164>`: scopes never merge."""
    if found.bsuid is not None:
        return f"{scope}/{found.bsuid.value}"
    assert found.phone is not None  # classify() guarantees one of the two
    return f"{scope}/{found.phone.e164}"


def customer_view(found: Identifiers, name: str | None, bsuid_enabled: bool) -> Customer:
    """What Connectly shows for this customer: the legacy view unless the number is enabled."""
    phone = found.phone.e164 if found.phone is not None else ""
    if bsuid_enabled and found.bsuid is not None:
        bsuid = found.bsuid.value
        return Customer(id=bsuid, name=name, user_id=bsuid, phone_number=phone)
    return Customer(id=phone, name=name, user_id="", phone_number=phone)


def reach_for(customer: Customer) -> Reach:
    """How to address the customer with Connectly's send API, from the same customer view."""
    if customer.phone_number:
        template_to = customer.phone_number
    elif customer.user_id:
        template_to = f"bsuid:{customer.user_id}"
    else:
        template_to = ""
    return Reach(
        session_user_id=customer.user_id,
        template_to=template_to,
        auth_templates=bool(customer.phone_number),
    )


@lru_cache(maxsize=4096)
def _business(scope: str, number: str, phone_number_id: str) -> Business:
    """Business numbers are few and immutable: one shared Struct each."""
    return Business(scope=scope, number=number, phone_number_id=phone_number_id)


#: The four possible gate outcomes, shared by every event.
_GATES = {
    (enabled, decision): Gate(
        number_enabled=enabled,
        decision=decision,
        reason=DROP_REASON if decision == "drop" else "",
    )
    for enabled in (True, False)
    for decision in ("admit", "drop")
}


def identity_of(found: Identifiers, scope: str, username: str, phone_attested: bool) -> Identity:
    bsuid, phone = found.bsuid, found.phone
    return Identity(
        class_=found.identity_class,
        key=identity_key(scope, found),
        bsuid=bsuid.value if bsuid is not None else "",
        parent_bsuid=found.parent_bsuid.value if found.parent_bsuid is not None else "",
        phone=phone.e164 if phone is not None else "",
        username=username,
        country=bsuid.country if bsuid is not None else phone.region if phone else "",
        previous_bsuid=found.previous_bsuid.value if found.previous_bsuid else "",
        phone_attested=phone_attested,
    )


def build_event(
    app: Appearance, found: Classified, business: ResolvedBusiness, source: Source
) -> IdentityEvent:
    """The event as a whole Struct: the contract's shape. The pipeline publishes the same bytes
    from parts encoded once per customer (`processor.core.view`); tests compare the two."""
    decision = decide(found.identity_class, business.bsuid_enabled)
    customer = customer_view(found, app.name, business.bsuid_enabled)
    return IdentityEvent(
        event_id=event_id(app.natural_key),
        event_type=app.event_type,
        occurred_at=iso_utc(found.occurred_at),
        source=source,
        business=_business(business.scope, business.number, business.phone_number_id),
        customer=customer,
        identity=identity_of(found, business.scope, app.username, app.phone_attested),
        gate=_GATES[(business.bsuid_enabled, decision)],
        message=MessageRef(id=app.message_id, status=app.message_status),
        reach=reach_for(customer),
    )
