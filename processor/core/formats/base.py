"""The one interface every input format implements (how to add one: docs/providers.md).

An adapter names its format, tells it by shape, verifies its signature, decodes its body with
msgspec Structs and turns it into customer appearances. Classification, the gate, keys,
`reach` and eventIds are the same for every format and live after it in the pipeline.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import ClassVar, Generic, TypeVar

import msgspec

from processor.core.appearance import Appearance, Skipped
from processor.core.records import InputRecord, ItemError
from processor.core.signature import SigningSecrets
from schemas.identity import SourceFormat
from schemas.webhook import Envelope

#: What an adapter yields: an appearance, the error of one item, or a counted skip.
Item = Appearance | ItemError | Skipped
#: The decoded body an adapter reads: the shared `Envelope`, or a Struct of its own.
Body = TypeVar("Body")


class FormatAdapter(ABC, Generic[Body]):
    """How one provider's webhooks become customer appearances.

    Adapters are stateless; one instance each is listed in `processor.core.formats.ADAPTERS`.
    Decoding returns the adapter it picked, and the pipeline calls it directly: no lookup by
    name per record.

    Meta's and Connectly's top-level fields are on the shared `schemas.webhook.Envelope`, so
    their bodies are decoded in one pass whether or not a header names the format. Any other
    provider has a `decoder` of its own Structs and one marker field on the envelope: its
    bodies are decoded once when `webhook-source` names it, and a second time (after the
    envelope told its shape) when nothing does.
    """

    #: `source.format` of its events; also the `webhook-source` header value that names it.
    name: ClassVar[SourceFormat]
    #: A header whose presence alone names the format (a signature header only this provider
    #: sends), or None when the provider has none (Vonage signs in the generic
    #: `authorization`).
    hint_header: ClassVar[str | None] = None
    #: `Envelope` fields that mark this format's shape: a body with any of them is taken for
    #: this format when no header names one (first adapter in `ADAPTERS` order wins).
    shape: ClassVar[tuple[str, ...]]
    #: Its own body Structs' decoder, or None when it reads the shared `Envelope`.
    decoder: msgspec.json.Decoder[Body] | None = None
    #: Its position in `ADAPTERS` (set there): where `PipelineStats` counts its records.
    index: int = -1

    def matches(self, envelope: Envelope) -> bool:
        """Whether the body has this format's shape: for records without `webhook-source`."""
        # A loop, not any(<generator>): half the cost, on every record without a header.
        for name in self.shape:  # noqa: SIM110
            if getattr(envelope, name) is not None:
                return True
        return False

    def signature_ok(self, record: InputRecord, secrets: SigningSecrets) -> bool:
        """Signed right, or no secret configured for this format (then nothing is verified).

        The default is for providers that do not sign their webhooks.
        """
        del record, secrets
        return True

    def check(self, body: Body) -> ItemError | None:
        """What makes the whole body unusable once its format is known, before any item is
        read (the record's dead letter). The default has nothing to check."""
        del body
        return None

    @abstractmethod
    def appearances(self, body: Body, raw: bytes, include_standby: bool) -> Iterable[Item]:
        """Every customer appearance of the body in body order. Errors are yielded, never
        raised: a bad item fails alone, and a body that is unusable as a whole may also yield
        just its error (the pipeline dead-letters the body once either way). `raw` is the
        record value (some natural keys hash it); `include_standby` is the pipeline's setting
        for Meta's standby copies."""
