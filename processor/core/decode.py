"""Raw record -> decoded envelope and the adapter of its format, or the dead letter that says
why not (CONTRACT 2 and 7).

The format comes from `webhook-source`, else from a header only one provider sends, else from
the body's shape. Every format's top-level fields are in one envelope Struct, so a body is
decoded in one pass before its format is known.
"""

from __future__ import annotations

from typing import Final

import msgspec

from processor.core.formats import (
    ADAPTERS,
    BY_LABEL,
    HINT_HEADERS,
    NAMES,
    SHAPE_KEYS,
    FormatAdapter,
)
from processor.core.records import InputRecord, ItemError
from processor.core.signature import SigningSecrets
from schemas.identity import SourceFormat
from schemas.webhook import ENVELOPE_DECODER, TYPED_ENVELOPE_DECODER, Envelope

#: Meta's limit for a webhook body (CONTRACT 7, `too_large`).
MAX_BODY_BYTES: Final = 3 * 1024 * 1024
SOURCE_HEADER: Final = "webhook-source"
#: Only the top-level keys: on the slow path, to tell "no known format" from "broken".
_KEYS_DECODER: Final = msgspec.json.Decoder(dict[str, msgspec.Raw])

#: The format's name (what `source.format` says), the decoded body, and the adapter that
#: reads it: the pipeline calls the adapter directly.
Decoded = tuple[SourceFormat, Envelope, FormatAdapter]


def hinted_adapter(record: InputRecord) -> FormatAdapter | None:
    """The format the headers name, before the body is read."""
    source = record.header(SOURCE_HEADER)
    if source is not None:
        adapter = BY_LABEL.get(source)
        if adapter is not None:
            return adapter
    for header, adapter in HINT_HEADERS:
        if record.header(header) is not None:
            return adapter
    return None


def shape_adapter(envelope: Envelope) -> FormatAdapter | None:
    """The first format, in `ADAPTERS` order, whose shape the body has."""
    for adapter in ADAPTERS:
        if adapter.matches(envelope):
            return adapter
    return None


def decode_record(
    record: InputRecord, secrets: SigningSecrets, max_body_bytes: int = MAX_BODY_BYTES
) -> Decoded | ItemError:
    body = record.value
    if len(body) > max_body_bytes:
        return ItemError("too_large", f"body of {len(body)} bytes is over {max_body_bytes}")
    hinted = hinted_adapter(record)
    # Verify before parsing when the headers tell the format: untrusted bytes stay unread.
    if hinted is not None and not hinted.signature_ok(record, secrets):
        return ItemError("bad_signature", f"{hinted.name} signature missing or wrong")
    try:
        envelope: Envelope = TYPED_ENVELOPE_DECODER.decode(body)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        # Slow path: decoded again with raw changes, to tell exactly what is wrong where.
        return _decode_slowly(record, body, hinted, secrets)
    return _checked(record, envelope, hinted, secrets)


def _decode_slowly(
    record: InputRecord, body: bytes, hinted: FormatAdapter | None, secrets: SigningSecrets
) -> Decoded | ItemError:
    try:
        envelope = ENVELOPE_DECODER.decode(body)
    except msgspec.ValidationError as exc:
        if body.lstrip()[:1] != b"{":
            return ItemError("unknown_format", f"body is JSON but not an object: {exc}")
        if hinted is None and not _has_a_known_shape(body):
            # Another service's webhook whose `from` or `status` is not a string is not a
            # broken Vonage body: it is no body of ours at all.
            return ItemError("unknown_format", f"not a webhook of any known format {NAMES}")
        return ItemError("schema_mismatch", str(exc))
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
        # msgspec reports invalid UTF-8 inside a string it decodes as UnicodeDecodeError.
        return ItemError("invalid_json", str(exc))
    return _checked(record, envelope, hinted, secrets)


def _has_a_known_shape(body: bytes) -> bool:
    """Whether the object has a top-level key that marks some format (or cannot be read far
    enough to say: then it is not called unknown)."""
    try:
        keys = _KEYS_DECODER.decode(body)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return True
    return not SHAPE_KEYS.isdisjoint(keys)


def _checked(
    record: InputRecord, envelope: Envelope, hinted: FormatAdapter | None, secrets: SigningSecrets
) -> Decoded | ItemError:
    adapter = hinted or shape_adapter(envelope)
    if adapter is None:
        return ItemError("unknown_format", f"not a webhook of any known format {NAMES}")
    if hinted is None and not adapter.signature_ok(record, secrets):
        return ItemError("bad_signature", f"{adapter.name} signature missing or wrong")
    problem = adapter.check(envelope)
    if problem is not None:
        return problem
    return adapter.name, envelope, adapter
