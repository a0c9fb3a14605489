"""Raw record -> decoded envelope and its format, or the dead letter that says why not."""

from __future__ import annotations

from typing import Final

import msgspec

from processor.core.records import InputRecord, ItemError
from processor.core.signature import (
    CONNECTLY_HEADER,
    META_HEADER,
    SigningSecrets,
    connectly_signature_ok,
    meta_signature_ok,
)
from schemas.identity import SourceFormat
from schemas.webhook import ENVELOPE_DECODER, TYPED_ENVELOPE_DECODER, Envelope

#: Meta's limit for a webhook body (CONTRACT 7, `too_large`).
MAX_BODY_BYTES: Final = 3 * 1024 * 1024
SOURCE_HEADER: Final = "webhook-source"
_META_OBJECT: Final = "whatsapp_business_account"


def _hinted_format(record: InputRecord) -> SourceFormat | None:
    """The format the headers name, before the body is read."""
    source = record.header(SOURCE_HEADER)
    if source == b"meta":
        return "meta"
    if source == b"connectly":
        return "connectly"
    if record.header(META_HEADER) is not None:
        return "meta"
    if record.header(CONNECTLY_HEADER) is not None:
        return "connectly"
    return None


def _shape_format(envelope: Envelope) -> SourceFormat | None:
    if envelope.object is not None or envelope.entry is not None:
        return "meta"
    if envelope.sender is not None or envelope.recipient is not None:
        return "connectly"
    return None


def _signature_ok(record: InputRecord, fmt: SourceFormat, secrets: SigningSecrets) -> bool:
    if fmt == "meta":
        return not secrets.meta or meta_signature_ok(
            record.value, record.header(META_HEADER), secrets.meta
        )
    return not secrets.connectly or connectly_signature_ok(
        record.value, record.header(CONNECTLY_HEADER), secrets.connectly
    )


def decode_record(
    record: InputRecord, secrets: SigningSecrets, max_body_bytes: int = MAX_BODY_BYTES
) -> tuple[SourceFormat, Envelope] | ItemError:
    body = record.value
    if len(body) > max_body_bytes:
        return ItemError("too_large", f"body of {len(body)} bytes is over {max_body_bytes}")
    hinted = _hinted_format(record)
    # Verify before parsing when the headers tell the format: untrusted bytes stay unread.
    if hinted is not None and not _signature_ok(record, hinted, secrets):
        return ItemError("bad_signature", f"{hinted} signature missing or wrong")
    try:
        envelope: Envelope = TYPED_ENVELOPE_DECODER.decode(body)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        # Slow path: decoded again with raw changes, to tell exactly what is wrong where.
        return _decode_slowly(record, body, hinted, secrets)
    return _checked(record, envelope, hinted, secrets)


def _decode_slowly(
    record: InputRecord, body: bytes, hinted: SourceFormat | None, secrets: SigningSecrets
) -> tuple[SourceFormat, Envelope] | ItemError:
    try:
        envelope = ENVELOPE_DECODER.decode(body)
    except msgspec.ValidationError as exc:
        if body.lstrip()[:1] != b"{":
            return ItemError("unknown_format", f"body is JSON but not an object: {exc}")
        return ItemError("schema_mismatch", str(exc))
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
        # msgspec reports invalid UTF-8 inside a string it decodes as UnicodeDecodeError.
        return ItemError("invalid_json", str(exc))
    return _checked(record, envelope, hinted, secrets)


def _checked(
    record: InputRecord, envelope: Envelope, hinted: SourceFormat | None, secrets: SigningSecrets
) -> tuple[SourceFormat, Envelope] | ItemError:
    fmt = hinted or _shape_format(envelope)
    if fmt is None:
        return ItemError("unknown_format", "neither a Meta nor a Connectly webhook")
    if hinted is None and not _signature_ok(record, fmt, secrets):
        return ItemError("bad_signature", f"{fmt} signature missing or wrong")
    if fmt == "meta":
        if envelope.object not in (None, _META_OBJECT):
            return ItemError(
                "unknown_format", f"Meta object {envelope.object!r} is not {_META_OBJECT}"
            )
        if envelope.entry is None:
            return ItemError("schema_mismatch", "Object missing required field `entry`")
    return fmt, envelope
