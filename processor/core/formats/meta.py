"""Meta WhatsApp Cloud API webhooks (docs/providers.md); the mapping is in `meta_appearances`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from processor.core.formats.base import FormatAdapter, Item
from processor.core.meta_appearances import meta_appearances
from processor.core.records import InputRecord, ItemError
from processor.core.signature import META_HEADER, SigningSecrets, meta_signature_ok
from schemas.webhook import Envelope

_META_OBJECT: Final = "whatsapp_business_account"


class MetaFormat(FormatAdapter[Envelope]):
    """`{"object": "whatsapp_business_account", "entry": [...]}`, signed with the app secret
    (`x-hub-signature-256`)."""

    name = "meta"
    hint_header = META_HEADER
    shape = ("object", "entry")

    def signature_ok(self, record: InputRecord, secrets: SigningSecrets) -> bool:
        return not secrets.meta or meta_signature_ok(
            record.value, record.header(META_HEADER), secrets.meta
        )

    def check(self, body: Envelope) -> ItemError | None:
        if body.object not in (None, _META_OBJECT):
            # Messenger and Instagram bodies share the envelope: same shape, other product.
            return ItemError("unknown_format", f"Meta object {body.object!r} is not {_META_OBJECT}")
        if body.entry is None:
            return ItemError("schema_mismatch", "Object missing required field `entry`")
        return None

    def appearances(self, body: Envelope, raw: bytes, include_standby: bool) -> Iterable[Item]:
        return meta_appearances(body.entry or [], include_standby=include_standby)
