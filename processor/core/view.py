"""The customer as an event shows it, worked out once per customer and business.

Customers recur: the same person writes, is written to and gets statuses, through the same
few business numbers. Everything an event says about them that does not depend on the event
itself (validated identifiers, class, identity key, customer view, reach, gate, route, Kafka
key) is a function of the raw identifiers, the profile and the business view, so it is worked
out once into a `CustomerView` whose parts are already encoded JSON, and looked up per event.

The rules live in `classify` (identifiers, class) and `normalize` (key, customer view, reach,
identity); this module calls them and keeps the outcome. The cache is a bounded LRU:
`MAX_VIEWS` views of about 1 KB each, whatever the stream.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

import msgspec

from processor.core.business import BusinessView
from processor.core.classify import identify
from processor.core.gate import decide
from processor.core.normalize import customer_view, identity_of, reach_for
from processor.core.records import Route
from schemas.identity import IdentityClass

#: Views remembered (least recently used dropped first): about 35 MB when full. The bench
#: stream (200k records, 84k distinct customer-business views) finds ~48% of its events here;
#: twice the size finds 57% for twice the memory.
MAX_VIEWS: Final = 32_768

_ENCODER = msgspec.json.Encoder()


class CustomerView(msgspec.Struct, frozen=True, gc=False):
    """One customer through one business view, as the parts of its events."""

    route: Route
    identity_class: IdentityClass
    #: The Kafka key: the identity key (admitted) or the business number (dropped).
    key: bytes
    #: A BSUID body longer than today's limit: the output is flagged.
    legacy_length: bool
    business: msgspec.Raw
    customer: msgspec.Raw
    identity: msgspec.Raw
    gate: msgspec.Raw
    reach: msgspec.Raw


@lru_cache(maxsize=MAX_VIEWS)
def view_of(  # noqa: PLR0917 (positional: the cache key is then just the arguments)
    business: BusinessView,
    bsuid: str,
    parent: str,
    phone: str,
    previous: str,
    name: str | None,
    username: str,
    phone_attested: bool,
) -> CustomerView | None:
    """The view, or None when an identifier is malformed or missing (the caller then builds
    the dead letter, which names where in the body the item is)."""
    found = identify(bsuid, parent, previous, phone)
    if isinstance(found, tuple):
        return None
    identity = identity_of(found, business.scope, username, phone_attested)
    customer = customer_view(found, name, business.enabled)
    encode = _ENCODER.encode
    if decide(found.identity_class, business.enabled) == "drop":
        route: Route = "dropped"
        key, gate = business.dropped_key, business.drop_gate
    else:
        route, key, gate = "identity", identity.key.encode(), business.admit_gate
    return CustomerView(
        route=route,
        identity_class=found.identity_class,
        key=key,
        legacy_length=found.legacy_length,
        business=business.business,
        customer=msgspec.Raw(encode(customer)),
        identity=msgspec.Raw(encode(identity)),
        gate=gate,
        reach=msgspec.Raw(encode(reach_for(customer))),
    )
