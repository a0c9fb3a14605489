"""The input formats (CONTRACT 2): one adapter module per provider, listed once here.

Adding a provider is its module, its Structs and its tests (docs/providers.md). The order of
`ADAPTERS` is the order in which shapes are tried for a record without `webhook-source`.
"""

from __future__ import annotations

from typing import Final

from processor.core.formats.base import FormatAdapter, Item
from processor.core.formats.connectly import ConnectlyFormat
from processor.core.formats.meta import MetaFormat
from processor.core.formats.vonage import VonageFormat
from processor.core.formats.wati import WatiFormat
from schemas.webhook import Envelope

ADAPTERS: Final[tuple[FormatAdapter, ...]] = (
    MetaFormat(),
    ConnectlyFormat(),
    VonageFormat(),
    WatiFormat(),
)
#: `webhook-source` header value -> its adapter.
BY_LABEL: Final[dict[bytes, FormatAdapter]] = {a.name.encode(): a for a in ADAPTERS}
#: (header, adapter): a header whose presence alone names the format.
HINT_HEADERS: Final[tuple[tuple[str, FormatAdapter], ...]] = tuple(
    (a.hint_header, a) for a in ADAPTERS if a.hint_header
)
NAMES: Final = tuple(a.name for a in ADAPTERS)
_WIRE_NAMES: Final = dict(
    zip(Envelope.__struct_fields__, Envelope.__struct_encode_fields__, strict=True)
)
#: Top-level JSON keys that mark some format's shape: a body with none of them is of no
#: known format, whatever else is wrong with it.
SHAPE_KEYS: Final = frozenset(_WIRE_NAMES[field] for a in ADAPTERS for field in a.shape)

__all__ = ["ADAPTERS", "BY_LABEL", "HINT_HEADERS", "NAMES", "SHAPE_KEYS", "FormatAdapter", "Item"]
