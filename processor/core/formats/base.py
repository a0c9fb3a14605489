"""The one interface every input format implements (CONTRACT 2; how to add one: docs/providers.md).

An adapter names its format, tells it by shape, verifies its signature and turns its decoded
body into customer appearances. Classification, the gate, keys, `reach` and eventIds are the
same for every format and live after it in the pipeline.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import ClassVar

from processor.core.appearance import Appearance, Skipped
from processor.core.records import InputRecord, ItemError
from processor.core.signature import SigningSecrets
from schemas.identity import SourceFormat
from schemas.webhook import Envelope

#: What an adapter yields: an appearance, the error of one item, or a counted skip.
Item = Appearance | ItemError | Skipped


class FormatAdapter(ABC):
    """How one provider's webhooks become customer appearances.

    Adapters are stateless; one instance each is listed in `processor.core.formats.ADAPTERS`.
    Decoding returns the adapter it picked, and the pipeline calls it directly: no lookup by
    name per record.

    Every format's top-level fields are in the one `schemas.webhook.Envelope`, so a body is
    decoded once whatever its format, before its format is known (`matches` looks at it).
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

    def matches(self, envelope: Envelope) -> bool:
        """Whether the body has this format's shape: for records without `webhook-source`."""
        return any(getattr(envelope, name) is not None for name in self.shape)

    def signature_ok(self, record: InputRecord, secrets: SigningSecrets) -> bool:
        """Signed right, or no secret configured for this format (then nothing is verified).

        The default is for providers that do not sign their webhooks.
        """
        del record, secrets
        return True

    def check(self, envelope: Envelope) -> ItemError | None:
        """What makes the whole body unusable once its format is known (the dead letter)."""
        del envelope
        return None

    @abstractmethod
    def appearances(self, envelope: Envelope, body: bytes, include_standby: bool) -> Iterable[Item]:
        """Every customer appearance of the body in body order. Errors are yielded, never
        raised: a bad item fails alone. `body` is the raw record value (some natural keys
        hash it); `include_standby` is the pipeline's setting for Meta's standby copies."""
