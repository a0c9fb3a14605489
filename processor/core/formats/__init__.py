"""The input formats (docs/providers.md): one adapter module per provider, listed once here.

Adding a provider is its module, its Structs and its tests (docs/providers.md). The order of
`ADAPTERS` is the order in which shapes are tried for a record without `webhook-source`.
"""

from __future__ import annotations

from typing import Any, Final

from processor.core.formats.base import FormatAdapter, Item
from processor.core.formats.connectly import ConnectlyFormat
from processor.core.formats.meta import MetaFormat
from processor.core.formats.vonage import VonageFormat
from processor.core.formats.wati import WatiFormat

#: Adapters of any body type: the pipeline hands each the body its own decode produced.
Adapter = FormatAdapter[Any]


def _numbered(*adapters: Adapter) -> tuple[Adapter, ...]:
    for index, adapter in enumerate(adapters):
        adapter.index = index
    return adapters


ADAPTERS: Final = _numbered(MetaFormat(), ConnectlyFormat(), VonageFormat(), WatiFormat())
#: `webhook-source` header value -> its adapter.
BY_LABEL: Final[dict[bytes, Adapter]] = {a.name.encode(): a for a in ADAPTERS}
#: (header, adapter): a header whose presence alone names the format.
HINT_HEADERS: Final[tuple[tuple[str, Adapter], ...]] = tuple(
    (a.hint_header, a) for a in ADAPTERS if a.hint_header
)
NAMES: Final = tuple(a.name for a in ADAPTERS)

__all__ = ["ADAPTERS", "BY_LABEL", "HINT_HEADERS", "NAMES", "Adapter", "FormatAdapter", "Item"]
