"""A deterministic generator of realistic raw webhook records: demo, benchmark, load and soak.

The same arguments always give the same bytes: every choice comes from one seeded
`random.Random`, ids come from counters, and the stream clock starts at 2026-06-01 and
advances with the record index. Customers come from a fixed pool so they recur; statuses of a
message arrive later as webhooks of their own (sometimes out of order); ~1% of records retry an
earlier body; `malformed_ratio` of them are broken in the ways docs/dlq.md names. Pure: no I/O.

Speed matters (the benchmark generates >= 1M records): bodies come from bytes templates and
per-customer fragments cached in `generate_shapes`, never from a JSON encoder per record.
"""

from __future__ import annotations

import heapq
import random
from bisect import bisect
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import Final

from processor.core.signature import (
    CONNECTLY_HEADER,
    META_HEADER,
    VONAGE_HEADER,
    SigningSecrets,
    sign_connectly,
    sign_meta,
    sign_vonage,
)
from processor.devkit import generate_shapes as shapes
from processor.devkit.generate_shapes import BOTH, BUSINESSES, HIDDEN, LEGACY, NUMBERS, TEXTS, Who

SOURCE_HEADER: Final = "webhook-source"
#: Sources of an `Out`: labelled Meta / Connectly; Meta-signed but unlabelled; nothing at all;
#: labelled Vonage / WATI.
META, CONNECTLY, SIGNED_META, BARE, VONAGE, WATI = 0, 1, 2, 3, 4, 5
_LABELS: Final = {
    META: (SOURCE_HEADER, b"meta"),
    CONNECTLY: (SOURCE_HEADER, b"connectly"),
    VONAGE: (SOURCE_HEADER, b"vonage"),
    WATI: (SOURCE_HEADER, b"wati"),
}
#: Webhook retries (docs/classification.md): the same body, key and headers again.
DUPLICATE_RATIO: Final = 0.01
#: Records without `webhook-source`: the processor has to tell the format by shape.
UNLABELLED_RATIO: Final = 0.05
UNKEYED_RATIO: Final = 0.05
#: Share of a customer's webhooks that involve their usual business number.
HOME_RATIO: Final = 0.85
MAX_CUSTOMERS: Final = 50_000
_RECENT: Final = 1024  # how far back a retry reaches
_BUSINESS_CUM: Final = [
    w / sum(shapes.BUSINESS_WEIGHTS) for w in accumulate(shapes.BUSINESS_WEIGHTS)
]
_WAMID: Final = b"wamid.HBgL"
_PORTFOLIO: Final = tuple(b.portfolio for b in BUSINESSES)

#: (Kafka key, body, source)
Out = tuple[bytes | None, bytes, int]
#: (business index, customer, message id) of a sent message whose statuses follow.
Sent = tuple[int, Who, bytes]

#: Input formats the generator can produce (`webhook-source` values, docs/providers.md).
FORMATS: Final = ("meta", "connectly", "vonage", "wati")

#: New webhooks per 1000 picks of the Meta + Connectly mix, by `_Stream` method and format.
#: Each outbound message adds 1-2 status records later, so on that mix Meta ends near 75% of
#: the records and Connectly near 25%. Vonage and WATI add about 9% and 7% of the records.
_KINDS: Final = (
    ("inbound", 300, "meta"),
    ("inbound_batch", 15, "meta"),
    ("outbound", 85, "meta"),
    ("group_status", 8, "meta"),
    ("contact_shared", 12, "meta"),
    ("identity_change", 6, "meta"),
    ("echo", 35, "meta"),
    ("call", 20, "meta"),
    ("history", 4, "meta"),
    ("contact_sync", 10, "meta"),
    ("preference", 8, "meta"),
    ("standby", 5, "meta"),
    ("not_customer", 14, "meta"),
    ("connectly_inbound", 130, "connectly"),
    ("connectly_outbound", 40, "connectly"),
    ("vonage_inbound", 60, "vonage"),
    ("vonage_outbound", 30, "vonage"),
    ("wati_message", 75, "wati"),
    ("wati_other", 8, "wati"),
)


@dataclass(frozen=True, slots=True)
class GeneratedRecord:
    """One raw Kafka record, as a webhook receiver would produce it (docs/providers.md)."""

    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


def generate(
    count: int,
    *,
    seed: int = 7,
    malformed_ratio: float = 0.02,
    customers: int | None = None,
    signing: SigningSecrets | None = None,
    formats: Collection[str] = FORMATS,
) -> Iterator[GeneratedRecord]:
    """`count` raw webhook records, the same for the same arguments.

    `customers` is the size of the recurring customer pool (default count/4, at most 50k;
    phones stay unique up to ~150k). With `signing`, records carry the signature header of
    their source, so a pipeline configured with the same secrets verifies them all. With a
    fixed `customers`, a shorter stream is a prefix of a longer one. `formats` picks the
    providers whose webhooks are generated (default: all of `FORMATS`); malformed records
    are then only of those providers, plus bodies that are no webhook at all.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if not 0.0 <= malformed_ratio <= 1.0 - DUPLICATE_RATIO:
        raise ValueError(f"malformed_ratio must be in [0, 0.99], got {malformed_ratio}")
    size = customers if customers is not None else min(max(count // 4, 16), MAX_CUSTOMERS)
    if size < 1:
        raise ValueError(f"customers must be >= 1, got {size}")
    unknown = set(formats) - set(FORMATS)
    if unknown or not formats:
        raise ValueError(f"formats must be a non-empty subset of {FORMATS}, got {formats!r}")
    stream = _Stream(seed, size, malformed_ratio, signing or SigningSecrets(), frozenset(formats))
    return stream.run(count)


def demo_registry_toml() -> str:
    """The number registry the generated traffic is meant for (docs/configuration.md)."""
    lines = [
        "# Number registry of the generated traffic (`generate`): two portfolios, each",
        "# with a BSUID-enabled and a not-enabled number. Traffic also goes to +15551230009",
        "# (phone_number_id 200000000000009), which is deliberately NOT registered.",
    ]
    for b in BUSINESSES:
        if b.scope:
            enabled = "true" if b.enabled else "false"
            lines += ["", "[[number]]", f'number = "{b.number}"']
            lines += [f'phone_number_id = "{b.phone_number_id}"', f'scope = "{b.scope}"']
            lines += [f"bsuid_enabled = {enabled}"]
    return "\n".join(lines) + "\n"


class _Stream:
    """The generator's state: the pool, counters, the stream clock and statuses in flight."""

    def __init__(
        self,
        seed: int,
        size: int,
        malformed: float,
        signing: SigningSecrets,
        formats: frozenset[str],
    ) -> None:
        self.rng = rng = random.Random(seed)
        self.draw = rng.random  # bound once: the hot paths call it ~8 times per record
        self.pool, self.serials = shapes.build_pool(rng, size)
        self.size = size
        # In every id, so that streams of different seeds never share an eventId.
        self.tag = b"%04X" % (seed & 0xFFFF)
        self.tag_int = seed & 0xFFFF
        self.seq = self.order = self.chunks = self.index = 0
        self.now, self.ts = shapes.START_TS, b"%d" % shapes.START_TS
        #: (due index, order, builder, args): statuses sent later as webhooks of their own.
        self.pending: list[tuple[int, int, Callable[..., Out], tuple[object, ...]]] = []
        self.last_inbound: tuple[int, Who, bytes, bytes, bytes] | None = None
        self.malformed_ratio = malformed
        self.meta_secret, self.connectly_secret = signing.meta, signing.connectly
        self.vonage_secret = signing.vonage
        # Only the chosen formats' kinds: the same seed and formats always draw alike.
        kinds = [(name, weight) for name, weight, fmt in _KINDS if fmt in formats]
        total = sum(weight for _name, weight in kinds)
        self.kinds: list[Callable[[], Out]] = [getattr(self, name) for name, _w in kinds]
        self.kind_cum = [w / total for w in accumulate(weight for _n, weight in kinds)]
        self.malformed_kinds = [make for make, needs in _MALFORMED if needs <= formats]

    def run(self, count: int) -> Iterator[GeneratedRecord]:
        draw, pending, kinds, cum = self.draw, self.pending, self.kinds, self.kind_cum
        recent: list[GeneratedRecord] = []
        malformed, duplicate = self.malformed_ratio, self.malformed_ratio + DUPLICATE_RATIO
        signed = bool(self.meta_secret or self.connectly_secret or self.vonage_secret)
        start = shapes.START_TS
        for index in range(count):
            # ~0.7 s of webhook time per record: 1M records span about 8 days.
            now = start + index * 7 // 10
            if now != self.now:
                self.now, self.ts = now, b"%d" % now
            self.index = index
            roll = draw()
            if roll < malformed:
                kinds_ = self.malformed_kinds
                yield self.record(kinds_[int(draw() * len(kinds_))](self))
                continue
            if roll < duplicate and recent:
                old = recent[int(draw() * len(recent))]
                yield GeneratedRecord(old.key, old.value, list(old.headers))
                continue
            if pending and pending[0][0] <= index:
                _due, _order, build, args = heapq.heappop(pending)
                key, value, source = build(*args)
            else:
                key, value, source = kinds[bisect(cum, draw())]()
            # `record()` inlined: this loop is the generator's whole budget.
            headers = [_LABELS[source]] if draw() >= UNLABELLED_RATIO else []
            if signed:
                self.sign(headers, value, source)
            record = GeneratedRecord(key, value, headers)
            if not index & 3:  # every 4th record is remembered: enough to pick retries from
                if len(recent) < _RECENT:
                    recent.append(record)
                else:
                    recent[(index >> 2) % _RECENT] = record
            yield record

    def record(self, out: Out) -> GeneratedRecord:
        key, value, source = out
        labelled = source in _LABELS and self.draw() >= UNLABELLED_RATIO
        headers = [_LABELS[source]] if labelled else []
        self.sign(headers, value, source)
        return GeneratedRecord(key, value, headers)

    def sign(self, headers: list[tuple[str, bytes]], value: bytes, source: int) -> None:
        if source == CONNECTLY:
            if self.connectly_secret:
                headers.append((CONNECTLY_HEADER, sign_connectly(value, self.connectly_secret)))
        elif source == VONAGE:
            if self.vonage_secret:
                jwt = sign_vonage(
                    value, self.vonage_secret, issued_at=self.now, jti=str(self.index)
                )
                headers.append((VONAGE_HEADER, jwt))
        elif source == WATI:
            pass  # WATI documents no signature
        elif source != BARE and self.meta_secret:
            headers.append((META_HEADER, sign_meta(value, self.meta_secret)))

    # -- Helpers shared by the kinds. ----------------------------------------------------

    def pick(self) -> tuple[int, Who]:
        """A business number and a customer; frequent customers come back more often."""
        draw = self.draw
        r = draw()
        c = self.pool[int(self.size * r * r)]
        bi = c.home if draw() < HOME_RATIO else bisect(_BUSINESS_CUM, draw())
        # Presence is decided per event (docs/classification.md): a phone + BSUID customer's phone
        # is sometimes missing (no exchange with this number in the last 30 days).
        shown = c.kind == LEGACY or (c.kind == BOTH and draw() < 0.9)
        return bi, c.whos[2 * _PORTFOLIO[bi] + shown] or c.who(_PORTFOLIO[bi], shown)

    def other(self, bi: int) -> Who:
        c = self.pool[int(self.size * self.draw())]
        return c.who(BUSINESSES[bi].portfolio, c.kind == BOTH and self.draw() < 0.9)

    def key(self, bi: int, w: Who) -> bytes | None:
        """Business number + customer, so one customer's records stay in one partition."""
        return None if self.draw() < UNKEYED_RATIO else NUMBERS[bi] + b"|" + w.key

    def new_id(self, prefix: bytes = _WAMID) -> bytes:
        self.seq += 1
        return b"%s%s%010X" % (prefix, self.tag, self.seq)

    def text(self) -> bytes:
        return TEXTS[int(self.draw() * len(TEXTS))]

    def later(self, delay: int, build: Callable[..., Out], *args: object) -> None:
        self.order += 1
        heapq.heappush(self.pending, (self.index + delay, self.order, build, args))

    def follow_up(self, build: Callable[..., Out], sent: Sent, failed: bytes) -> None:
        """Statuses of a sent message, each a webhook of its own, at independent delays: a
        `read` may arrive before its `delivered`, but never carries an earlier time."""
        draw, now = self.draw, self.now
        if draw() < 0.05:
            self.later(1 + int(draw() * 20), build, sent, failed, now + 3)
            return
        delivered = 1 + int(draw() * 60)
        self.later(delivered, build, sent, b"delivered", now + delivered)
        if draw() < 0.6:
            read = 1 + int(draw() * 300)
            self.later(read, build, sent, b"read", now + max(read, delivered + 1))

    def meta(self, bi: int, w: Who, field: str, arrays: bytes, *, contacts: bool = True) -> Out:
        body = shapes.meta_body(bi, field, w.contact() if contacts else b"", arrays)
        return self.key(bi, w), body, META

    # -- Meta kinds (docs/providers.md). -------------------------------------------------

    def inbound(self) -> Out:
        bi, w = self.pick()
        wamid, text = self.new_id(), self.text()
        self.last_inbound = (bi, w, wamid, self.ts, text)
        slot = shapes.INBOUND + bi
        prefix = w.cache.get(slot) or w.build(slot, shapes.inbound_prefix, bi)
        return self.key(bi, w), shapes.INBOUND_BODY % (prefix, wamid, self.ts, text), META

    def inbound_batch(self) -> Out:
        """Several messages in one body, sometimes from two or three customers."""
        bi, w = self.pick()
        whos = [w, w if self.draw() < 0.5 else self.other(bi)]
        if self.draw() < 0.3:
            whos.append(self.other(bi))
        ts = self.ts
        messages = b",".join(shapes.text_message(x, self.new_id(), ts, self.text()) for x in whos)
        contacts = b",".join(dict.fromkeys(x.contact() for x in whos))
        body = shapes.meta_body(bi, "messages", contacts, b'"messages":[%s]' % messages)
        return self.key(bi, w), body, META

    def outbound(self) -> Out:
        bi, w = self.pick()
        sent = (bi, w, self.new_id())
        self.follow_up(self.status, sent, b"failed")
        return self.status(sent, b"sent", self.now)

    def status(self, sent: Sent, state: bytes, when: int) -> Out:
        bi, w, wamid = sent
        ts = b"%d" % when
        if state == b"failed" and w.phone:
            # A failed status may name the phone only, without contacts (docs/providers.md).
            item = shapes.status(w, shapes.RECIPIENT_PHONE, wamid, state, (ts, shapes.FAILED))
            return self.meta(bi, w, "messages", b'"statuses":[%s]' % item, contacts=False)
        extra = shapes.FAILED if state == b"failed" else b"" if state == b"read" else shapes.PRICING
        slot = shapes.STATUS + bi
        prefix = w.cache.get(slot) or w.build(slot, shapes.status_prefix, bi)
        return self.key(bi, w), shapes.STATUS_BODY % (prefix, wamid, state, ts, extra), META

    def group_status(self) -> Out:
        """The recipient is a group; the customer is the participant, never the group id."""
        bi, w = self.pick()
        group = b',"recipient_id":"120363%012d","recipient_type":"group"' % (self.seq % 997)
        state = b"read" if self.draw() < 0.5 else b"delivered"
        item = shapes.status(w, shapes.PARTICIPANT, self.new_id(), state, (self.ts, group))
        return self.meta(bi, w, "messages", b'"statuses":[%s]' % item, contacts=False)

    def contact_shared(self) -> Out:
        bi, w = self.pick()
        r = self.draw()
        # Meta renamed the request type: both origins attest the sender's own phone.
        origin = b"contact_request" if r < 0.5 else b"request_contact_info" if r < 0.6 else b"other"
        card = w.customer if r < 0.6 else self.pool[int(self.draw() * self.size)]
        message = shapes.contacts_message(w, self.new_id(), self.ts, origin, card)
        return self.meta(bi, w, "messages", b'"messages":[%s]' % message)

    def identity_change(self) -> Out:
        """A number change (new phone and BSUIDs) or, for a username user, a new BSUID."""
        bi, w = self.pick()
        c, portfolio = w.customer, BUSINESSES[bi].portfolio
        old_bsuid, old_phone = w.bsuid, c.phone
        system: dict[str, str]
        if c.kind == HIDDEN:
            c.new_bsuids(self.rng)
            new = c.who(portfolio, False)
            system = {"type": "user_changed_user_id", "user_id": new.bsuid.decode()}
            change, sender = (old_bsuid, new.bsuid), {}
        else:
            self.serials[c.country] += 1
            c.renumber(self.rng, self.serials[c.country])
            new = c.who(portfolio, True)
            system = {"type": "user_changed_number", "wa_id": c.phone.decode()}
            if new.bsuid:
                system["user_id"] = new.bsuid.decode()
            change, sender = (old_phone, c.phone), {"from": old_phone.decode()}
        before, after = (x.decode() for x in change)
        system["body"] = f"User {c.name.decode()} changed from {before} to {after}"
        # Older shapes lack `previous_user_id`: then only the body names the old BSUID.
        if old_bsuid and self.draw() < 0.8:
            system["previous_user_id"] = old_bsuid.decode()
        if c.parent:
            system["parent_user_id"] = c.parent.decode()
        wamid, ts = self.new_id().decode(), self.ts.decode()
        message = {**sender, "id": wamid, "timestamp": ts, "type": "system", "system": system}
        arrays = b'"messages":[%s]' % shapes.encode(message)
        return self.meta(bi, new, "messages", arrays, contacts=False)

    def echo(self) -> Out:
        bi, w = self.pick()
        r = self.draw()
        if r < 0.9:
            payload = b'"type":"text","text":{"body":%s}' % self.text()
        elif r < 0.95:
            payload = b'"type":"revoke","revoke":{"original_message_id":"%s"}' % self.new_id()
        else:
            payload = b'"type":"edit","edit":{"original_message_id":"%s","text":{"body":%s}}' % (
                self.new_id(),
                self.text(),
            )
        item = shapes.echo(bi, w, self.new_id(), self.ts, payload)
        return self.meta(bi, w, "smb_message_echoes", b'"message_echoes":[%s]' % item)

    def call(self) -> Out:
        bi, w = self.pick()
        draw = self.draw
        event = b"connect" if draw() < 0.6 else b"terminate"
        user_initiated = draw() < 0.7
        item = shapes.call(
            bi, w, self.new_id(b"wacid.HBgL"), self.ts, event, user_initiated=user_initiated
        )
        return self.meta(bi, w, "calls", b'"calls":[%s]' % item)

    def history(self) -> Out:
        """A small chunk of chat history shared at onboarding: 1-4 threads of 1-3 messages."""
        draw = self.draw
        bi, first = self.pick()
        threads = []
        for w in [first] + [self.other(bi) for _ in range(int(draw() * 4))]:
            start = self.now - 86_400 * (1 + int(draw() * 300))
            count = 1 + int(draw() * 3)
            messages = [(self.new_id(), start + 60 * i, draw() < 0.5) for i in range(count)]
            threads.append(shapes.history_thread(bi, w, messages))
        self.chunks += 1
        progress = int(draw() * 101)
        arrays = b'"history":[{"metadata":{"phase":0,"chunk_order":%d,"progress":%d},' % (
            self.chunks,
            progress,
        ) + b'"threads":[%s]}]' % b",".join(threads)
        return self.meta(bi, first, "history", arrays, contacts=False)

    def contact_sync(self) -> Out:
        bi, w = self.pick()
        draw, c = self.draw, w.customer
        # The business's own contact book may hold the phone even of a username user.
        w = c.who(BUSINESSES[bi].portfolio, c.kind != HIDDEN or draw() < 0.3)
        r = draw()
        action = b"add" if r < 0.6 else b"edit" if r < 0.85 else b"remove"
        arrays = b'"state_sync":[%s]' % shapes.sync_item(w, self.ts, action)
        return self.meta(bi, w, "smb_app_state_sync", arrays, contacts=False)

    def preference(self) -> Out:
        bi, w = self.pick()
        value = b"stop" if self.draw() < 0.7 else b"resume"
        arrays = b'"user_preferences":[%s]' % shapes.preference(w, self.ts, value)
        return self.meta(bi, w, "user_preferences", arrays)

    def standby(self) -> Out:
        """A copy seen while another app is the active handler: of a recent live message,
        or an echo whose customer is only in the sent request."""
        if self.last_inbound is not None and self.draw() < 0.6:
            bi, w, wamid, ts, text = self.last_inbound
            self.last_inbound = None  # one standby copy per live message
            message = shapes.text_message(w, wamid, ts, text)
            arrays = b'"standby":{"messages":[%s],"contacts":[%s]}' % (message, w.contact())
        else:
            bi, w = self.pick()
            arrays = shapes.standby_echo(w, self.new_id(), self.ts, self.text())
        return self.meta(bi, w, "standby", arrays, contacts=False)

    def not_customer(self) -> Out:
        bi = bisect(_BUSINESS_CUM, self.draw())
        event = (b"APPROVED", b"REJECTED", b"PAUSED")[int(self.draw() * 3)]
        self.seq += 1  # template ids from the id counter: unrelated bodies never coincide
        body = shapes.template_status(bi, 5_000_000_000 + self.seq, event)
        return (NUMBERS[bi] if self.draw() < 0.5 else None), body, META

    # -- Connectly kinds (docs/providers.md). -------------------------------------------------

    def connectly_inbound(self) -> Out:
        bi, w = self.pick()
        slot = shapes.CONNECTLY_INBOUND + bi
        middle = w.cache.get(slot) or w.build(slot, shapes.connectly_inbound_middle, bi)
        body = shapes.CONNECTLY_INBOUND_BODY % (self.ts, middle, self.text())
        return self.key(bi, w), body, CONNECTLY

    def connectly_outbound(self) -> Out:
        bi, w = self.pick()
        sent = (bi, w, self.new_id(b"01JD3N8Q2W5X"))  # 26 characters, like a ULID
        self.follow_up(self.connectly_status, sent, b"delivery_failed")
        return self.connectly_status(sent, b"sent", self.now)

    def connectly_status(self, sent: Sent, state: bytes, when: int) -> Out:
        bi, w, sid = sent
        slot = shapes.CONNECTLY_STATUS + bi
        middle = w.cache.get(slot) or w.build(slot, shapes.connectly_status_middle, bi)
        error = shapes.CONNECTLY_ERROR if state == b"delivery_failed" else b"null"
        body = shapes.CONNECTLY_STATUS_BODY % (b"%d" % when, middle, sid, state, error)
        return self.key(bi, w), body, CONNECTLY

    # -- Vonage kinds (docs/providers.md). --------------------------------------------------------

    def vonage_inbound(self) -> Out:
        bi, w = self.pick()
        mid = shapes.uuid(self.new_seq(), self.tag_int)
        profile = shapes.vonage_profile(w)
        sender = w.phone or w.bsuid
        ts, text = shapes.iso(self.now), self.text()
        return (
            self.key(bi, w),
            shapes.vonage_inbound(bi, sender, profile, mid, ts=ts, text=text),
            VONAGE,
        )

    def vonage_outbound(self) -> Out:
        bi, w = self.pick()
        sent = (bi, w, shapes.uuid(self.new_seq(), self.tag_int))
        self.follow_up(self.vonage_status, sent, b"rejected")
        return self.vonage_status(sent, b"submitted", self.now)

    def vonage_status(self, sent: Sent, state: bytes, when: int) -> Out:
        bi, w, mid = sent
        # Callbacks from before Vonage passed BSUIDs on have no whatsapp.recipient.
        recipient = w.bsuid != b"" or self.draw() < 0.5
        body = shapes.vonage_status(bi, w, mid, state, shapes.iso(when), recipient=recipient)
        return self.key(bi, w), body, VONAGE

    # -- WATI kinds (docs/providers.md). ----------------------------------------------------------

    def wati_message(self) -> Out:
        """A message the customer wrote (`owner` false) or the business sent (true)."""
        bi, w = self.pick()
        owner = self.draw() < 0.3
        fields = shapes.wati_fields(w, owner=owner)
        body = shapes.wati_message(
            bi, fields, self.new_id(), ts=self.ts, owner=owner, text=self.text()
        )
        return self.key(bi, w), body, WATI

    def wati_other(self) -> Out:
        """Another WATI event type: counted and skipped (docs/providers.md)."""
        bi, w = self.pick()
        event = (b"message", b"sentMessageDELIVERED", b"templateMessageSent")[int(self.draw() * 3)]
        fields = shapes.wati_fields(w, owner=False)
        body = shapes.wati_message(
            bi, fields, self.new_id(), ts=self.ts, owner=False, text=self.text(), event=event
        )
        return self.key(bi, w), body, WATI

    def new_seq(self) -> int:
        self.seq += 1
        return self.seq

    # -- Malformed records: every dead-letter reason of docs/dlq.md but the size and signature.

    def _choice(self, options: tuple[bytes, ...]) -> bytes:
        return options[int(self.draw() * len(options))]

    def _meta_message(self, identity: bytes, before: bytes = b"") -> Out:
        """A Meta body whose (last) message carries `identity` as given: possibly broken."""
        bi = bisect(_BUSINESS_CUM, self.draw())
        message = _RAW_MESSAGE % (identity, self.new_id(), self.ts)
        body = shapes.meta_body(bi, "messages", b"", b'"messages":[%s%s]' % (before, message))
        return NUMBERS[bi], body, META

    def _connectly(self, party: dict[str, str]) -> Out:
        bi = bisect(_BUSINESS_CUM, self.draw())
        body = shapes.connectly_inbound(bi, shapes.encode(party), self.ts, self.text())
        return NUMBERS[bi], body, CONNECTLY

    def not_a_webhook(self) -> Out:
        """Not JSON, JSON but not an object, or another service's webhook on the wrong topic
        (unlabelled: only the shape can tell, docs/providers.md)."""
        body, source = _NOT_WEBHOOKS[int(self.draw() * len(_NOT_WEBHOOKS))]
        return None, body, source

    def truncated(self) -> Out:
        """A body cut short: a proxy or a producer gave up mid-write."""
        key, body, source = self.inbound() if self.draw() < 0.75 else self.connectly_inbound()
        return key, body[: 1 + int(self.draw() * (len(body) - 2))], source

    def wrong_types(self) -> Out:
        r = self.draw()
        if r < 0.25:
            return None, b'{"object":"whatsapp_business_account","entry":{"id":"1"}}', META
        if r < 0.5:
            return self._meta_message(b'"from":14155550123,')
        if r < 0.75:
            return self._meta_message(b'"from_user_id":"US.1","timestamp":1782000000.5,')
        body = b'{"timestamp":"%s","sender":"+14155550123","recipient":{"id":"+15551230001"}}'
        return None, body % self.ts, CONNECTLY

    def bad_bsuid(self) -> Out:
        r, bad = self.draw(), self._choice(_BAD_BSUIDS)
        if r < 0.3:
            return self._meta_message(b'"from_user_id":"%s",' % bad)
        if r < 0.5:
            # One valid and one broken item: the valid one is published, the body dead-lettered.
            valid = shapes.text_message(self.other(0), self.new_id(), self.ts, TEXTS[0])
            return self._meta_message(b'"from_user_id":"%s",' % bad, valid + b",")
        if r < 0.7:  # a child BSUID where a parent is expected
            return self._meta_message(b'"from_user_id":"US.17","from_parent_user_id":"US.42",')
        # A parent BSUID where Connectly expects the child (docs/providers.md).
        parent = "US.ENT.11815799212886844830"
        return self._connectly({"id": parent, "channelType": "whatsapp", "userId": parent})

    def bad_phone(self) -> Out:
        phone = self._choice(_BAD_PHONES)
        if self.draw() < 0.6:
            return self._meta_message(b'"from":"%s",' % phone)
        e164 = "+" + phone.decode()
        return self._connectly({"id": e164, "userId": "", "phoneNumber": e164})

    def conflict(self) -> Out:
        """Connectly's `id` differs from `userId` (docs/providers.md)."""
        w = self.other(0)
        if w.bsuid and self.draw() < 0.5:
            user = w.bsuid.decode()
            return self._connectly({"id": user[:-1] + "0", "userId": user, "phoneNumber": ""})
        return self._connectly({"id": "+14155550123", "userId": "US.5518290017364528190"})

    def no_identity(self) -> Out:
        r = self.draw()
        if r < 0.4:
            return self._meta_message(b'"from":"",')
        if r < 0.7:
            return self._connectly({"id": "", "userId": "", "phoneNumber": ""})
        bi = bisect(_BUSINESS_CUM, self.draw())
        item = b'{"id":"%s","status":"sent","timestamp":"%s"}' % (self.new_id(), self.ts)
        return None, shapes.meta_body(bi, "messages", b"", b'"statuses":[%s]' % item), META


def _vonage_malformed(self: _Stream) -> Out:
    """A Vonage body broken in one of the ways docs/providers.md names."""
    bi = bisect(_BUSINESS_CUM, self.draw())
    mid, ts = shapes.uuid(self.new_seq(), self.tag_int), shapes.iso(self.now)
    r = self.draw()
    if r < 0.2:  # a malformed BSUID or phone as the sender
        sender = self._choice((*_BAD_BSUIDS[:3], *_BAD_PHONES))
        body = shapes.vonage_inbound(bi, sender, b"", mid, ts=ts, text=TEXTS[0])
    elif r < 0.4:  # `to` and whatsapp.recipient name two customers
        w = self.other(bi)
        body = shapes.vonage_status(bi, w, mid, b"read", ts, recipient=True)
        if w.phone:
            body = body.replace(b'"wa_id":"%s"' % w.phone, b'"wa_id":"14155550123"')
        else:
            body = body.replace(b'"to":"%s"' % w.bsuid, b'"to":"US.1"')
    elif r < 0.6:  # no customer at all
        body = shapes.vonage_inbound(bi, b"", b"", mid, ts=ts, text=TEXTS[0])
    elif r < 0.8:  # a wrong type, or no message_uuid
        body = b'{"message_uuid":"%s","channel":"whatsapp","from":14155550123,"to":"%s"}' % (
            mid,
            shapes.DIGITS[bi],
        )
        if self.draw() < 0.5:
            body = b'{"message_uuid":"","channel":"whatsapp","from":"14155550123","to":"1"}'
    else:  # cut short
        w = self.other(bi)
        body = shapes.vonage_inbound(bi, w.phone or w.bsuid, b"", mid, ts=ts, text=TEXTS[1])
        body = body[: 1 + int(self.draw() * (len(body) - 2))]
    return NUMBERS[bi], body, VONAGE


def _wati_malformed(self: _Stream) -> Out:
    """A WATI body broken in one of the ways docs/providers.md names."""
    bi = bisect(_BUSINESS_CUM, self.draw())
    wamid, r = self.new_id(), self.draw()
    owner = b'"owner":false'
    if r < 0.25:
        fields = b'"bsuid":"%s",' % self._choice(_BAD_BSUIDS)
    elif r < 0.45:
        fields = b'"waId":"%s","bsuid":"US.5518290017364528190",' % self._choice(_BAD_PHONES)
    elif r < 0.65:  # waId holds another BSUID than bsuid
        fields = b'"waId":"US.1","bsuid":"US.5518290017364528190",'
    elif r < 0.85:
        fields = b'"senderName":"nobody",'
    else:  # owner is not a boolean: the body does not decode
        fields, owner = b'"bsuid":"US.5518290017364528190",', b'"owner":"no"'
    body = shapes.wati_message(bi, fields, wamid, ts=self.ts, owner=False, text=TEXTS[0])
    return NUMBERS[bi], body.replace(b'"owner":false', owner), WATI


_META_CONNECTLY: Final = frozenset({"meta", "connectly"})
#: Malformed kinds and the formats whose bodies each makes; bodies that are no webhook at all
#: make up a third (invalid JSON and unknown formats are the commonest garbage on a raw topic).
_MALFORMED: Final[tuple[tuple[Callable[[_Stream], Out], frozenset[str]], ...]] = (
    *((_Stream.not_a_webhook, frozenset[str]()),) * 3,
    (_Stream.truncated, _META_CONNECTLY),
    (_Stream.wrong_types, _META_CONNECTLY),
    (_Stream.bad_bsuid, _META_CONNECTLY),
    (_Stream.bad_phone, _META_CONNECTLY),
    (_Stream.conflict, frozenset({"connectly"})),
    (_Stream.no_identity, _META_CONNECTLY),
    (_vonage_malformed, frozenset({"vonage"})),
    (_wati_malformed, frozenset({"wati"})),
)
_RAW_MESSAGE: Final = b'{%s"id":"%s","timestamp":"%s","type":"text","text":{"body":"hi"}}'
_NOT_WEBHOOKS: Final = (
    (b"<html><body><h1>502 Bad Gateway</h1></body></html>", META),
    (b'{"object":"whatsapp_business_account","entry":[{"id":"300000000000001",}]}', META),
    (b"sender=%2B14155550123&text=hi", CONNECTLY),
    (b"\xff\xfe{\x00", CONNECTLY),
    (b"[]", META),
    (b'[{"object":"whatsapp_business_account"}]', META),
    (b'"ok"', CONNECTLY),
    (b"null", CONNECTLY),
    (b"42", META),
    (b'{"event":"ping","data":{"ok":true}}', BARE),
    (b'{"object":"page","entry":[{"id":"1","time":1782000000,"messaging":[]}]}', SIGNED_META),
    (b'{"object":"instagram","entry":[]}', SIGNED_META),
)
_BAD_BSUIDS: Final = (
    b"us.7301846620193748112",
    b"US-7301846620193748112",
    b"USA.7301846620193748112",
    b"US.",
    b"US.7301 846620",
    b"US." + b"7" * 300,  # over even the legacy 256-character limit
)
_BAD_PHONES: Final = (b"12345", b"1415555012345678901", b"1415ABC0123", b"0044770090012")
