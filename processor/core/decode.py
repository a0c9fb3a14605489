"""Raw record -> decoded body and the adapter of its format, or the dead letter that says why
not (docs/providers.md).

The format comes from `webhook-source`, else from a header only one provider sends, else from
the body's shape. Meta and Connectly bodies, and every body whose format no header names, are
decoded into the shared envelope in one pass; a body of another provider is decoded into that
provider's own Structs (processor/core/formats/base.py says when that is a second pass).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from processor.core.formats import ADAPTERS, BY_LABEL, HINT_HEADERS, NAMES, Adapter
from processor.core.records import Headers, InputRecord, ItemError
from processor.core.signature import SigningSecrets
from schemas.identity import SourceFormat
from schemas.webhook import ENVELOPE_DECODER, TYPED_ENVELOPE_DECODER, Envelope

#: Meta's limit for a webhook body (docs/dlq.md, `too_large`).
MAX_BODY_BYTES: Final = 3 * 1024 * 1024
SOURCE_HEADER: Final = "webhook-source"

#: The format's name (what `source.format` says), the decoded body the adapter reads, and the
#: adapter: the pipeline calls it directly.
Decoded = tuple[SourceFormat, Any, Adapter]


def hinted_adapter(headers: Headers) -> Adapter | None:
    """The format the headers name, before the body is read: `webhook-source` (its first
    occurrence), else a header only one provider sends."""
    for name, value in headers:
        if name == SOURCE_HEADER:
            try:
                return BY_LABEL[value]  # subscript, not .get(): a third of the cost per record
            except KeyError:
                break  # an unknown label: told by the other headers or the shape
    for header, adapter in HINT_HEADERS:
        for name, _value in headers:
            if name == header:
                return adapter
    return None


def shape_adapter(envelope: Envelope) -> Adapter | None:
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
    hinted = hinted_adapter(record.headers)
    if hinted is None:
        try:
            envelope: Envelope = TYPED_ENVELOPE_DECODER.decode(body)
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
            return _decode_slowly(record, body, None, secrets)
        return _checked(record, envelope, None, secrets)
    # Verify before parsing when the headers tell the format: untrusted bytes stay unread.
    if not hinted.signature_ok(record, secrets):
        return ItemError("bad_signature", f"{hinted.name} signature missing or wrong")
    if hinted.decoder is not None:
        return _own_body(hinted, body)
    try:
        envelope = TYPED_ENVELOPE_DECODER.decode(body)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        # Slow path: decoded again with raw changes, to tell exactly what is wrong where.
        return _decode_slowly(record, body, hinted, secrets)
    problem = hinted.check(envelope)
    return (hinted.name, envelope, hinted) if problem is None else problem


def _decode_slowly(
    record: InputRecord, body: bytes, hinted: Adapter | None, secrets: SigningSecrets
) -> Decoded | ItemError:
    try:
        envelope = ENVELOPE_DECODER.decode(body)
    except msgspec.ValidationError as exc:
        return _invalid(body, exc)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
        # msgspec reports invalid UTF-8 inside a string it decodes as UnicodeDecodeError.
        return ItemError("invalid_json", str(exc))
    return _checked(record, envelope, hinted, secrets)


def _checked(
    record: InputRecord, envelope: Envelope, hinted: Adapter | None, secrets: SigningSecrets
) -> Decoded | ItemError:
    adapter = hinted or shape_adapter(envelope)
    if adapter is None:
        return ItemError("unknown_format", f"not a webhook of any known format {NAMES}")
    if hinted is None:
        if not adapter.signature_ok(record, secrets):
            return ItemError("bad_signature", f"{adapter.name} signature missing or wrong")
        if adapter.decoder is not None:
            # Told by its marker field: now read into the provider's own Structs.
            return _own_body(adapter, record.value)
    problem = adapter.check(envelope)
    if problem is not None:
        return problem
    return adapter.name, envelope, adapter


def _own_body(adapter: Adapter, body: bytes) -> Decoded | ItemError:
    """A body decoded into its provider's own Structs (`adapter.decoder` is set)."""
    assert adapter.decoder is not None
    try:
        decoded = adapter.decoder.decode(body)
    except msgspec.ValidationError as exc:
        return _invalid(body, exc)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
        return ItemError("invalid_json", str(exc))
    problem = adapter.check(decoded)
    if problem is not None:
        return problem
    return adapter.name, decoded, adapter


def _invalid(body: bytes, exc: msgspec.ValidationError) -> ItemError:
    if body.lstrip()[:1] != b"{":
        return ItemError("unknown_format", f"body is JSON but not an object: {exc}")
    return ItemError("schema_mismatch", str(exc))
