"""Records of the enablement control topic (docs/enablement.md): key = business number.

The value is a registry entry plus `effectiveAt`. It also carries the number's earlier
changes (`history`): the topic is compacted, so only the latest record per number survives,
and without its history a replay of old traffic could not be gated as it was gated then.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from schemas.base import OwnedStruct


class EnablementState(OwnedStruct, frozen=True, kw_only=True):
    number: str
    phone_number_id: str = ""
    scope: str
    bsuid_enabled: bool = False
    #: ISO 8601 with a zone: a naive time would mean different instants on different hosts.
    effective_at: Annotated[datetime, msgspec.Meta(tz=True)] = msgspec.field(name="effectiveAt")


class EnablementChange(EnablementState, frozen=True, kw_only=True):
    #: Earlier states of the same number, oldest first.
    history: list[EnablementState] = msgspec.field(default_factory=list)


CHANGE_DECODER = msgspec.json.Decoder(EnablementChange)
CHANGE_ENCODER = msgspec.json.Encoder()
