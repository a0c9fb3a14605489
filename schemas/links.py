"""Identity links: the published link record and the stage's own state records.

`Link` is the value of `customer.identity.links.v1` (camelCase JSON, every field present, like
the identity event). `Fact` and `Rotation` are the state the links stage keeps in memory and in
its changelog topic: internal, so they are encoded as compact MessagePack arrays.

Keys inside the state are identity keys (`<scope>/<bsuid>`, `<scope>/<E.164>`), so a scope is
part of every lookup and two scopes never meet (docs/classification.md).
"""

from __future__ import annotations

import msgspec


class Link(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The current link between a customer's phone and BSUID in one scope."""

    scope: str
    bsuid: str
    phone: str
    parent_bsuid: str
    username: str
    #: Event time (ISO 8601 UTC) of the event that set the link as published.
    since: str
    event_id: str
    #: The BSUID this link replaced ("" when none is known).
    previous_bsuid: str


class Fact(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One event saying "this phone and this BSUID belong together" (a link fact).

    The same object is the register value of its phone key and of its BSUID key while it is
    the newest fact of both: one object per customer, not two. `gc=False`: only strings and
    numbers, so it can never be part of a reference cycle, and the collector skips it.
    """

    phone: str  # phone identity key
    bsuid: str  # BSUID identity key
    at: int  # event time, unix seconds
    event_id: str
    #: From an `identity_change` event (Meta already announced the rotation).
    system: bool = False
    #: BSUID key the identity_change named as previous ("" otherwise).
    previous: str = ""
    parent: str = ""
    username: str = ""
    #: Which event the profile (parent, username) came from: the newest one that had any.
    profile_at: int = 0
    profile_id: str = ""


class Rotation(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """An identity_change: BSUID key `old` was replaced by `new` at `at`."""

    old: str
    new: str
    #: The new phone key when the change came with one (a number change), else "".
    phone: str
    at: int
    event_id: str
    parent: str = ""
    username: str = ""


LINK_ENCODER = msgspec.json.Encoder()
LINK_DECODER = msgspec.json.Decoder(Link)
STATE_ENCODER = msgspec.msgpack.Encoder()
FACT_DECODER = msgspec.msgpack.Decoder(Fact)
ROTATION_DECODER = msgspec.msgpack.Decoder(Rotation)
