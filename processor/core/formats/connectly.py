"""Connectly webhooks (docs/providers.md); the mapping is in `connectly_appearances`."""

from __future__ import annotations

from collections.abc import Iterable

from processor.core.connectly_appearances import connectly_appearance
from processor.core.formats.base import FormatAdapter, Item
from processor.core.records import InputRecord
from processor.core.signature import CONNECTLY_HEADER, SigningSecrets, connectly_signature_ok
from schemas.webhook import Envelope


class ConnectlyFormat(FormatAdapter[Envelope]):
    """`{"timestamp", "sender", "recipient", ...}`, signed with `x-connectly-hmac-sha256`."""

    name = "connectly"
    hint_header = CONNECTLY_HEADER
    shape = ("sender", "recipient")

    def signature_ok(self, record: InputRecord, secrets: SigningSecrets) -> bool:
        return not secrets.connectly or connectly_signature_ok(
            record.value, record.header(CONNECTLY_HEADER), secrets.connectly
        )

    def appearances(self, body: Envelope, raw: bytes, include_standby: bool) -> Iterable[Item]:
        # One body, one customer.
        return (connectly_appearance(body, raw),)
