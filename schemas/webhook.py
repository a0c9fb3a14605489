"""The envelope every raw record is decoded into first, in a single msgspec pass.

Meta and Connectly bodies share no tag field we could dispatch on, so one Struct holds the
top-level fields of both; the format is then told by which ones are present. Message
payloads (`message`) stay raw: the pipeline never reads message text.
"""

from __future__ import annotations

import msgspec

from schemas.base import WebhookStruct
from schemas.connectly import Party, StatusUpdate
from schemas.meta import Entry


class Envelope(WebhookStruct, frozen=True, kw_only=True, rename={"status_update": "statusUpdate"}):
    # Meta
    object: str | None = None
    entry: list[Entry] | None = None
    # Connectly
    topic: str | None = None
    timestamp: str | int | None = None
    sender: Party | None = None
    recipient: Party | None = None
    status_update: StatusUpdate | None = None
    #: The message payload: skipped, never decoded (its text is none of our business).
    message: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)


ENVELOPE_DECODER = msgspec.json.Decoder(Envelope)
