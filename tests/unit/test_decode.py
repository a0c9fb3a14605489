"""Raw record -> envelope, or the body-level dead letter (docs/providers.md)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from processor.core.decode import MAX_BODY_BYTES, decode_record
from processor.core.records import InputRecord, ItemError, OutputRecord
from processor.core.signature import SigningSecrets

Run = Callable[..., list[OutputRecord]]
NO_SECRETS = SigningSecrets()


def code_of(value: bytes, headers: list[tuple[str, bytes]] | None = None) -> str:
    found = decode_record(InputRecord(value=value, headers=headers or []), NO_SECRETS)
    assert isinstance(found, ItemError), found
    return found.code


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"not json",
        b'{"object": "whatsapp_business_account",',
        b'{"timestamp": NaN}',
        b"\xef\xbb\xbf{}",  # a byte order mark is not JSON
        b'{"object": "\xff\xfe"}',  # invalid UTF-8 in a field we read
        b'{"sender": {"id": "+1555\xc3"}}',
        # Nesting past the decoder's depth limit (valid JSON in theory, unreadable in practice).
        b'{"message": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
)
def test_invalid_json(body: bytes) -> None:
    assert code_of(body) == "invalid_json"


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b"[1, 2]",
        b'"a string"',
        b"42",
        b"null",
        b"true",
        b"{}",
        b'{"hello": "world"}',
        b'{"object": "page", "entry": []}',  # a Messenger body, not WhatsApp
        b'{"object": "instagram"}',
        b"[" * 100_000 + b"]" * 100_000,  # not an object: told before the depth matters
    ],
)
def test_unknown_format(body: bytes) -> None:
    assert code_of(body) == "unknown_format"


@pytest.mark.parametrize(
    "body",
    [
        b'{"object": "whatsapp_business_account"}',  # no entry
        b'{"object": "whatsapp_business_account", "entry": {}}',
        b'{"object": "whatsapp_business_account", "entry": [5]}',
        b'{"object": 5}',
        b'{"sender": "someone", "recipient": {}}',
        b'{"sender": {"id": 14155550123}}',
        b'{"timestamp": 1e400, "sender": {}}',
        b'{"timestamp": 1' + b"0" * 5000 + b', "sender": {}}',  # an integer msgspec refuses
    ],
)
def test_schema_mismatch(body: bytes) -> None:
    assert code_of(body) == "schema_mismatch"


def test_format_from_header_beats_shape() -> None:
    connectly_body = b'{"timestamp": "1", "sender": {"id": "US.1"}, "recipient": {"id": "+1"}}'
    found = decode_record(InputRecord(value=connectly_body), NO_SECRETS)
    assert not isinstance(found, ItemError)
    assert found[0] == "connectly"
    # The header says Meta: a Connectly body is then a Meta body without `entry`.
    assert code_of(connectly_body, [("webhook-source", b"meta")]) == "schema_mismatch"
    meta_body = b'{"object": "whatsapp_business_account", "entry": []}'
    found = decode_record(InputRecord(value=meta_body), NO_SECRETS)
    assert not isinstance(found, ItemError)
    assert found[0] == "meta"
    found = decode_record(
        InputRecord(value=meta_body, headers=[("webhook-source", b"connectly")]), NO_SECRETS
    )
    assert not isinstance(found, ItemError)
    assert found[0] == "connectly"


def test_meta_object_may_be_missing_when_entry_is_there() -> None:
    found = decode_record(InputRecord(value=b'{"entry": []}'), NO_SECRETS)
    assert not isinstance(found, ItemError)
    assert found[0] == "meta"


def padded_to(size: int, body: bytes) -> bytes:
    """A valid JSON body of exactly `size` bytes (trailing whitespace is valid JSON)."""
    assert len(body) <= size
    return body + b" " * (size - len(body))


def test_too_large_is_over_3_mib(sample: Callable[[str], bytes], run: Run) -> None:
    assert MAX_BODY_BYTES == 3 * 1024 * 1024
    body = sample("meta_inbound_bsuid_only")
    exactly = padded_to(MAX_BODY_BYTES, body)
    out = run(exactly)
    assert [o.route for o in out] == ["identity"]
    over = exactly + b" "
    out = run(over, key=b"k", offset=7)
    assert [o.route for o in out] == ["dlq"]
    headers = dict(out[0].headers)
    assert headers["dlq.error.code"] == b"too_large"
    assert out[0].value == over
    assert out[0].key == b"k"


def test_too_large_is_checked_before_parsing(run: Run) -> None:
    out = run(b"x" * (MAX_BODY_BYTES + 1))
    assert dict(out[0].headers)["dlq.error.code"] == b"too_large"


def test_too_large_big_history_body_with_real_content(run: Run) -> None:
    threads = [{"id": f"1415555{i:04d}", "messages": [{"timestamp": "1"}]} for i in range(60_000)]
    body = json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {"changes": [{"field": "history", "value": {"history": [{"threads": threads}]}}]}
            ],
        }
    ).encode()
    assert len(body) > MAX_BODY_BYTES
    out = run(body)
    assert [dict(o.headers)["dlq.error.code"] for o in out] == [b"too_large"]
