"""The customer pool and the webhook body templates behind `processor.devkit.generate`.

Bodies are `%`-formatted from bytes templates and per-customer fragments cached on first use:
encoding a nested dict per record would cost more than the generator's whole per-record budget.
Every value put into a template is ASCII without quotes or backslashes (ids, digits, names
from a fixed pool); texts are encoded once with msgspec. Shapes follow docs/providers.md and its
sample bodies.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import msgspec

#: 2026-06-01T00:00:00Z: the stream clock starts here, so a seed always replays identically.
START_TS: Final = 1_780_272_000

encode = msgspec.json.encode


@dataclass(frozen=True, slots=True)
class Business:
    number: str  # E.164
    phone_number_id: str
    waba: str
    scope: str  # "" = not in the registry
    enabled: bool
    name: str
    #: Which of a customer's BSUIDs this number sees: one per business portfolio.
    portfolio: int


BUSINESSES: Final = (
    Business("+15551230001", "200000000000001", "300000000000001", "acme", True, "acme", 0),
    Business("+15551230002", "200000000000002", "300000000000001", "acme", False, "acme", 0),
    Business("+447700900100", "200000000000003", "300000000000002", "globex", True, "globex", 1),
    Business("+15551230004", "200000000000004", "300000000000002", "globex", False, "globex", 1),
    # Not in the registry: traffic a new number brings before anyone registers it.
    Business("+15551230009", "200000000000009", "300000000000009", "", False, "initech", 2),
)
BUSINESS_WEIGHTS: Final = (35, 22, 18, 13, 12)
PORTFOLIOS: Final = 3

# (ISO code, country calling code, national prefixes, random digits, weight). Every prefix
# was checked to give a possible number of that country (`phonenumbers`), so the BSUID's
# country code matches the phone's region.
_COUNTRIES: Final = (
    (b"US", b"1", (b"415555", b"212555", b"310555", b"646555", b"202555", b"617555"), 4, 30),
    (b"GB", b"44", (b"77009",), 5, 12),
    (b"IN", b"91", (b"98", b"99", b"97"), 8, 18),
    (b"BR", b"55", (b"119", b"219", b"319"), 8, 12),
    (b"DE", b"49", (b"151", b"160", b"176"), 8, 8),
    (b"NG", b"234", (b"803", b"806", b"813"), 7, 8),
    (b"ES", b"34", (b"6",), 8, 5),
    (b"MX", b"52", (b"55", b"33", b"81"), 8, 7),
)
_FIRST = (b"Ana", b"Ben", b"Chen", b"Dara", b"Eve", b"Femi", b"Lena", b"Raj", b"Tomas", b"Kim")
_LAST = (b"Ruiz", b"Okafor", b"Li", b"Singh", b"Silva", b"Adeyemi", b"Klein", b"Patel", b"Vidal")
TEXTS: Final = tuple(
    encode(t)
    for t in ("hi", "order status?", "price?", "Olá, tudo bem?", "thanks 🙏", "where is my order")
)

LEGACY, BOTH, HIDDEN = 0, 1, 2  # phone only / phone + BSUID / BSUID only (username hides phone)

# Field-name triples (phone, BSUID, parent BSUID) per place a customer appears in a body.
FROM, TO, RECIPIENT, PARTICIPANT, PREF, CONTEXT, SYNC, RECIPIENT_PHONE = range(8)
_NAMES: Final = (
    (b"from", b"from_user_id", b"from_parent_user_id"),
    (b"to", b"to_user_id", b"to_parent_user_id"),
    (b"recipient_id", b"recipient_user_id", b"recipient_parent_user_id"),
    (b"recipient_participant_id", b"recipient_participant_user_id", b""),
    (b"wa_id", b"user_id", b""),
    (b"wa_id", b"user_id", b"parent_user_id"),
    (b"phone_number", b"user_id", b"parent_user_id"),
    # A failed status may name the phone only (docs/providers.md).
    (b"recipient_id", b"", b""),
)


class Who:
    """One customer as one business portfolio sees them in one event (phone shown or not).

    Fragments are built on first use and cached here: customers recur, so most records only
    fill ids and times into cached prefixes. Names and usernames come from a fixed ASCII pool,
    so they go into JSON strings without escaping.
    """

    __slots__ = ("bsuid", "cache", "customer", "key", "parent", "phone")

    def __init__(self, c: Customer, portfolio: int, shown: bool) -> None:
        self.customer = c
        self.phone = c.phone if shown else b""
        self.bsuid = c.bsuids[portfolio] if c.kind != LEGACY else b""
        self.parent = c.parent if self.bsuid else b""
        #: Per-customer part of the Kafka key: stable across events, so order is kept.
        self.key = self.bsuid or b"+" + c.phone
        self.cache: dict[int, bytes] = {}

    def frag(self, slot: int) -> bytes:
        """`"from":"…","from_user_id":"…",` with absent identifiers left out."""
        cached = self.cache.get(slot)
        if cached is None:
            phone_name, bsuid_name, parent_name = _NAMES[slot]
            cached = b'"%s":"%s",' % (phone_name, self.phone) if self.phone else b""
            if self.bsuid and bsuid_name:
                cached += b'"%s":"%s",' % (bsuid_name, self.bsuid)
            if self.parent and parent_name:
                cached += b'"%s":"%s",' % (parent_name, self.parent)
            self.cache[slot] = cached
        return cached

    def build(self, slot: int, build: Callable[[int, Who], bytes], bi: int) -> bytes:
        """A fragment for business `bi`, cached under `slot` (unique per builder and bi).
        Callers try `cache.get(slot)` first: a method call per hit would cost more."""
        part = self.cache[slot] = build(bi, self)
        return part

    def contact(self) -> bytes:
        """The `contacts[]` entry of Meta bodies."""
        c = self.customer
        user = b',"username":"%s"' % c.username if c.username else b""
        return b'{"profile":{"name":"%s"%s},%s}' % (c.name, user, self.frag(CONTEXT)[:-1])

    def party(self, *, legacy: bool) -> bytes:
        """Connectly's customer object (docs/providers.md). `legacy`: the view a number that is not
        enabled gets, id = phone and userId "" (docs/enablement.md)."""
        c, e164 = self.customer, b"+" + self.phone if self.phone else b""
        user = b"" if legacy and e164 else self.bsuid
        name = b"null" if c.kind == HIDDEN else b'"%s"' % c.name
        # Older Connectly payloads leave a legacy customer's phoneNumber out.
        phone = b"" if c.old_payload and c.kind == LEGACY else b',"phoneNumber":"%s"' % e164
        return _PARTY % (user or e164, name, user, phone)


_PARTY: Final = b'{"id":"%s","channelType":"whatsapp","name":%s,"userId":"%s"%s}'


class Customer:
    __slots__ = (
        "bsuids",
        "country",
        "home",
        "kind",
        "name",
        "old_payload",
        "parent",
        "phone",
        "username",
        "whos",
    )

    def __init__(self, rng: random.Random, country: int, serial: int, home: int) -> None:
        self.country = country
        #: The business number this customer mostly talks to: pairs recur, as in real traffic.
        self.home = home
        # One draw for every trait: 50k customers must be built in a fraction of a second.
        bits = rng.getrandbits(32)
        kind = bits & 127
        self.kind = LEGACY if kind < 45 else BOTH if kind < 96 else HIDDEN  # 35% / 40% / 25%
        first, last = _FIRST[(bits >> 7 & 255) % 10], _LAST[(bits >> 15 & 255) % 9]
        self.name = b"%s %s" % (first, last)
        username = self.kind == HIDDEN or (self.kind == BOTH and bits >> 23 & 7 < 2)
        self.username = (
            b"%s.%s%d" % (first.lower(), last.lower(), serial % 1000) if username else b""
        )
        self.old_payload = bits >> 26 & 3 == 0
        # Parent BSUIDs exist only for businesses enrolled in them: a minority of customers.
        iso = _COUNTRIES[country][0]
        self.parent = b"%s.ENT.%d" % (iso, _body(rng)) if bits >> 28 < 2 else b""
        self.phone = b""
        self.bsuids: list[bytes] = []
        self.whos: list[Who | None] = []
        self.renumber(rng, serial)

    def renumber(self, rng: random.Random, serial: int) -> None:
        """A new phone regenerates every BSUID; a username change would not."""
        _iso, cc, prefixes, digits, _weight = _COUNTRIES[self.country]
        prefix = prefixes[serial % len(prefixes)]
        # 7919 is prime to 10: serial -> digits is a permutation, so phones never collide.
        body = (serial // len(prefixes) * 7919 + 1234) % 10**digits
        self.phone = b"%s%s%0*d" % (cc, prefix, digits, body)
        self.new_bsuids(rng)

    def new_bsuids(self, rng: random.Random) -> None:
        iso, bits = _COUNTRIES[self.country][0], rng.getrandbits(62 * PORTFOLIOS)
        self.bsuids = [
            b"%s.%d" % (iso, 10**18 + (bits >> 62 * k & _BODY_MASK)) for k in range(PORTFOLIOS)
        ]
        self.whos = [None] * (2 * PORTFOLIOS)

    def who(self, portfolio: int, shown: bool) -> Who:
        """The customer with or without their phone in this event (a legacy customer always
        shows it: it is their only identifier)."""
        shown = shown or self.kind == LEGACY
        index = 2 * portfolio + shown
        found = self.whos[index]
        if found is None:
            found = self.whos[index] = Who(self, portfolio, shown)
        return found

    def card_phone(self) -> bytes:
        """The phone as a contact card prints it: `+CC NATIONAL` (normalized downstream)."""
        cc = _COUNTRIES[self.country][1]
        return b"+%s %s" % (cc, self.phone[len(cc) :])


_BODY_MASK: Final = (1 << 62) - 1


def _body(rng: random.Random) -> int:
    """A 19-digit BSUID body like Meta's samples (opaque: only its shape matters here)."""
    return 10**18 + rng.getrandbits(62)


def build_pool(rng: random.Random, size: int) -> tuple[list[Customer], list[int]]:
    """`size` customers and, per country, the next unused phone serial (for number changes)."""
    weights = [c[4] for c in _COUNTRIES]
    countries = rng.choices(range(len(_COUNTRIES)), weights, k=size)
    homes = rng.choices(range(len(BUSINESSES)), BUSINESS_WEIGHTS, k=size)
    serials = [0] * len(_COUNTRIES)
    pool = []
    for country, home in zip(countries, homes, strict=True):
        pool.append(Customer(rng, country, serials[country], home))
        serials[country] += 1
    return pool, serials


def _meta_head(b: Business, field: str) -> bytes:
    digits = b.number.lstrip("+")
    return (
        b'{"object":"whatsapp_business_account","entry":[{"id":"%s","changes":[{"field":"%s",'
        b'"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"%s",'
        b'"phone_number_id":"%s"},'
        % (b.waba.encode(), field.encode(), digits.encode(), b.phone_number_id.encode())
    )


_FIELDS: Final = ("messages", "smb_message_echoes", "calls", "history", "smb_app_state_sync")
_FIELDS_MORE: Final = ("user_preferences", "standby")
#: HEADS[business index][field]: everything before the change's own arrays.
HEADS: Final = tuple({f: _meta_head(b, f) for f in _FIELDS + _FIELDS_MORE} for b in BUSINESSES)
TAIL: Final = b"}}]}]}"
DIGITS: Final = tuple(b.number.lstrip("+").encode() for b in BUSINESSES)
NUMBERS: Final = tuple(b.number.encode() for b in BUSINESSES)
CONNECTLY_BUSINESS: Final = tuple(
    encode({"id": b.number, "channelType": "whatsapp", "name": b.name}) for b in BUSINESSES
)


# -- Body builders: fragments in, one webhook body (or one array item) out. ---------------
# `%` on bytes templates: as fast as joining parts, and the JSON shape stays readable.

PRICING: Final = (
    b',"pricing":{"billable":true,"pricing_model":"PMP","type":"regular","category":"utility"}'
)
FAILED: Final = b',"errors":[{"code":131049,"title":"This message was not delivered"}]'
CONNECTLY_ERROR: Final = b'{"code":"470","message":"re-engagement window closed"}'


# Hot kinds (inbound messages, statuses) are one `%` of a cached per-customer prefix.
#: Slots of per-business fragments in `Who.cache`: 8 * kind + business index, above `_NAMES`.
INBOUND, STATUS, CONNECTLY_INBOUND, CONNECTLY_STATUS = (8 * k for k in range(1, 5))


def inbound_prefix(bi: int, w: Who) -> bytes:
    head = HEADS[bi]["messages"]
    return b'%s"contacts":[%s],"messages":[{%s"id":"' % (head, w.contact(), w.frag(FROM))


#: (inbound_prefix, wamid, timestamp, text)
INBOUND_BODY: Final = b'%s%s","timestamp":"%s","type":"text","text":{"body":%s}}]' + TAIL


def status_prefix(bi: int, w: Who) -> bytes:
    head = HEADS[bi]["messages"]
    return b'%s"contacts":[%s],"statuses":[{%s"id":"' % (head, w.contact(), w.frag(RECIPIENT))


#: (status_prefix, wamid, status, timestamp, pricing or errors)
STATUS_BODY: Final = b'%s%s","status":"%s","timestamp":"%s"%s}]' + TAIL


def connectly_inbound_middle(bi: int, w: Who) -> bytes:
    return connectly_sender(bi, w.party(legacy=not BUSINESSES[bi].enabled))


def connectly_sender(bi: int, party: bytes) -> bytes:
    return b'","sender":%s,"recipient":%s,"message":{"text":' % (party, CONNECTLY_BUSINESS[bi])


#: (timestamp, connectly_inbound_middle, text)
CONNECTLY_INBOUND_BODY: Final = b'{"timestamp":"%s%s%s}}'


def connectly_status_middle(bi: int, w: Who) -> bytes:
    party = w.party(legacy=not BUSINESSES[bi].enabled)
    return _CONNECTLY_STATUS_MIDDLE % (NUMBERS[bi], party)


_CONNECTLY_STATUS_MIDDLE: Final = (
    b'","sender":{"id":"%s","channelType":"whatsapp"},"recipient":%s,"statusUpdate":{"id":"'
)


#: (timestamp, connectly_status_middle, id, status, error)
CONNECTLY_STATUS_BODY: Final = (
    b'{"topic":"delivery_status","timestamp":"%s%s%s","status":"%s","error":%s}}'
)


def meta_body(bi: int, field: str, contacts: bytes, arrays: bytes) -> bytes:
    """A Meta body with one change; `arrays` is `"messages":[…]` and the like."""
    if contacts:
        return b'%s"contacts":[%s],%s%s' % (HEADS[bi][field], contacts, arrays, TAIL)
    return HEADS[bi][field] + arrays + TAIL


def text_message(w: Who, wamid: bytes, ts: bytes, text: bytes) -> bytes:
    return _TEXT % (w.frag(FROM), wamid, ts, text)


_TEXT: Final = b'{%s"id":"%s","timestamp":"%s","type":"text","text":{"body":%s}}'


def status(w: Who, slot: int, sid: bytes, state: bytes, ts_extra: tuple[bytes, bytes]) -> bytes:
    """A message status; `ts_extra` is its time and what follows it (pricing, errors)."""
    return _STATUS % (w.frag(slot), sid, state, *ts_extra)


_STATUS: Final = b'{%s"id":"%s","status":"%s","timestamp":"%s"%s}'


def context(w: Who) -> bytes:
    """A history thread's `context`; none for a legacy customer (the thread id is the phone)."""
    if not w.bsuid:
        return b""
    user = b'"username":"%s",' % w.customer.username if w.customer.username else b""
    return b'"context":{' + (w.frag(CONTEXT) + user)[:-1] + b"},"


def contacts_message(w: Who, wamid: bytes, ts: bytes, origin: bytes, card: Customer) -> bytes:
    """A `contacts` message: `contact_request` attests the sender's phone, `other` does not."""
    return (
        b'{%s"id":"%s","timestamp":"%s","type":"contacts","contacts":[{"name":{"formatted_name":'
        b'"%s"},"origin":"%s","phones":[{"phone":"%s","wa_id":"%s","type":"CELL"}]}]}'
        % (w.frag(FROM), wamid, ts, card.name, origin, card.card_phone(), card.phone)
    )


def echo(bi: int, w: Who, wamid: bytes, ts: bytes, payload: bytes) -> bytes:
    """A message the business sent from the app: the customer is `to` (docs/providers.md)."""
    return b'{"from":"%s",%s"id":"%s","timestamp":"%s",%s}' % (
        DIGITS[bi],
        w.frag(TO),
        wamid,
        ts,
        payload,
    )


def call(bi: int, w: Who, cid: bytes, ts: bytes, event: bytes, *, user_initiated: bool) -> bytes:
    if user_initiated:
        ends, direction = b'%s"to":"%s",' % (w.frag(FROM), DIGITS[bi]), b"USER_INITIATED"
    else:
        ends, direction = b'"from":"%s",%s' % (DIGITS[bi], w.frag(TO)), b"BUSINESS_INITIATED"
    return _CALL % (ends, cid, event, ts, direction)


_CALL: Final = b'{%s"id":"%s","event":"%s","timestamp":"%s","direction":"%s"}'


def history_thread(bi: int, w: Who, messages: list[tuple[bytes, int, bool]]) -> bytes:
    """A thread of (wamid, time, sent by the customer) messages; its id is the customer."""
    parts = []
    for wamid, when, inbound in messages:
        ends = w.frag(FROM) if inbound else b'"from":"%s",%s' % (DIGITS[bi], w.frag(TO))
        parts.append(
            b'{%s"id":"%s","timestamp":"%d","type":"text","text":{"body":"ok"},'
            b'"history_context":{"status":"READ"}}' % (ends, wamid, when)
        )
    return b'{"id":"%s",%s"messages":[%s]}' % (w.phone or w.bsuid, context(w), b",".join(parts))


def sync_item(w: Who, ts: bytes, action: bytes) -> bytes:
    """A contact-book entry the business made: its phone is never attested (docs/providers.md)."""
    c = w.customer
    user = b',"username":"%s"' % c.username if c.username and w.bsuid else b""
    return (
        b'{"type":"contact","contact":{%s"full_name":"%s"%s},"action":"%s",'
        b'"metadata":{"timestamp":"%s"}}' % (w.frag(SYNC), c.name, user, action, ts)
    )


def preference(w: Who, ts: bytes, value: bytes) -> bytes:
    return (
        b'{%s"detail":"User requested to %s marketing messages","category":"marketing_messages",'
        b'"value":"%s","timestamp":"%s"}' % (w.frag(PREF), value, value, ts)
    )


def standby_echo(w: Who, wamid: bytes, ts: bytes, text: bytes) -> bytes:
    """A standby echo carries the sent request: the customer is its `to` (phone or BSUID)."""
    return (
        b'"standby":{"message_echoes":[{"id":"%s","timestamp":"%s","message":{"messaging_product"'
        b':"whatsapp","to":"%s","recipient_type":"individual","type":"text","text":{"body":%s}}}]}'
        % (wamid, ts, w.phone or w.bsuid, text)
    )


def connectly_inbound(bi: int, party: bytes, ts: bytes, text: bytes) -> bytes:
    return CONNECTLY_INBOUND_BODY % (ts, connectly_sender(bi, party), text)


def template_status(bi: int, template_id: int, event: bytes) -> bytes:
    """A non-customer field (docs/providers.md): counted and skipped, never dead-lettered."""
    return (
        b'{"object":"whatsapp_business_account","entry":[{"id":"%s","changes":[{"field":'
        b'"message_template_status_update","value":{"messaging_product":"whatsapp","event":"%s",'
        b'"message_template_id":%d,"message_template_name":"promo_%d",'
        b'"message_template_language":"en_US","reason":null}}]}]}'
        % (BUSINESSES[bi].waba.encode(), event, template_id, template_id)
    )


# -- Vonage Messages API and WATI (docs/providers.md) -------------------------------------------


def iso(ts: int) -> bytes:
    """Vonage's times: ISO 8601 in UTC."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)).encode()


def uuid(seq: int, tag: int) -> bytes:
    """A UUID-shaped message id from the stream tag and the id counter: unique per stream,
    never shared by two seeds, the same for the same seed."""
    return b"%08x-0000-4000-8000-%012x" % (tag, seq)


def vonage_profile(w: Who) -> bytes:
    c = w.customer
    user = b',"username":"%s"' % c.username if c.username and w.bsuid else b""
    return b'"profile":{"name":"%s"%s},' % (c.name, user)


def vonage_recipient(w: Who) -> bytes:
    """`whatsapp.recipient` of a status: the customer's BSUIDs and, when shown, phone."""
    parts = [b'"user_id":"%s"' % w.bsuid] if w.bsuid else []
    if w.parent:
        parts.append(b'"parent_user_id":"%s"' % w.parent)
    if w.phone:
        parts.append(b'"wa_id":"%s"' % w.phone)
    return b",".join(parts)


def vonage_status(
    bi: int, w: Who, mid: bytes, state: bytes, ts: bytes, *, recipient: bool
) -> bytes:
    """A status callback: `to` is what the business addressed (the phone when it has one)."""
    whatsapp = b'"pricing":{"type":"regular","pricing_model":"CBP","category":"service"}'
    if recipient:
        whatsapp += b',"recipient":{%s}' % vonage_recipient(w)
    return (
        b'{"message_uuid":"%s","to":"%s","from":"%s","timestamp":"%s","status":"%s",'
        b'"channel":"whatsapp",%s"usage":{"currency":"EUR","price":"0.0147"},"whatsapp":{%s}}'
        % (
            mid,
            w.phone or w.bsuid,
            DIGITS[bi],
            ts,
            state,
            vonage_profile(w) if recipient else b"",
            whatsapp,
        )
    )


def vonage_inbound(
    bi: int, sender: bytes, profile: bytes, mid: bytes, *, ts: bytes, text: bytes
) -> bytes:
    """An inbound message: `from` is the customer (a BSUID when the phone is hidden)."""
    return (
        b'{"channel":"whatsapp","message_uuid":"%s","to":"%s","from":"%s","timestamp":"%s",%s'
        b'"context_status":"none","message_type":"text","text":%s}'
        % (mid, DIGITS[bi], sender, ts, profile, text)
    )


def wati_message(
    bi: int,
    fields: bytes,
    wamid: bytes,
    *,
    ts: bytes,
    owner: bool,
    text: bytes,
    event: bytes = b"message_bsuid",
) -> bytes:
    """A WATI event with the customer's `fields` (waId, bsuid, parentBsuid, username, ...)."""
    return (
        b'{"id":"%s","created":"%s","whatsappMessageId":"%s","conversationId":"68c8d56157578adb12ada249",'
        b'"text":%s,"type":"text","timestamp":"%s","owner":%s,"eventType":"%s","statusString":"SENT",'
        b'"operatorName":"Hien Trinh",%s"channelPhoneNumber":"%s"}'
        % (
            wamid[-24:],
            iso(int(ts)),
            wamid,
            text,
            ts,
            b"true" if owner else b"false",
            event,
            fields,
            DIGITS[bi],
        )
    )


def wati_fields(w: Who, *, owner: bool) -> bytes:
    c = w.customer
    parts = b'"waId":"%s",' % w.phone if w.phone else b""
    parts += b'"senderName":"%s",' % (b"Hien Trinh" if owner else c.name)
    if w.bsuid:
        parts += b'"bsuid":"%s",' % w.bsuid
        parts += b'"parentBsuid":"%s",' % w.parent if w.parent else b'"parentBsuid":null,'
        parts += b'"username":"@%s",' % c.username if c.username else b'"username":null,'
    return parts
