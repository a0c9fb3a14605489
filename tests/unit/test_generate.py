"""processor.devkit.generate: deterministic, realistic, and broken in the ways docs/dlq.md names.

The generated stream is checked through the real pipeline with the registry the generator
publishes, so "realistic" means "exercises every route, class, event type and reason code".
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import msgspec
import pytest

from processor.core.pipeline import Pipeline
from processor.core.records import InputRecord, OutputRecord
from processor.core.registry import Registry
from processor.core.signature import (
    CONNECTLY_HEADER,
    META_HEADER,
    VONAGE_HEADER,
    SigningSecrets,
    connectly_signature_ok,
    meta_signature_ok,
    vonage_signature_ok,
)
from processor.core.stats import PipelineStats
from processor.devkit.generate import (
    DUPLICATE_RATIO,
    FORMATS,
    SOURCE_HEADER,
    GeneratedRecord,
    demo_registry_toml,
    generate,
)
from schemas.identity import IDENTITY_EVENT_DECODER, IdentityEvent
from schemas.registry import RegistryFile

COUNT = 12_000
SEED = 11
MALFORMED = 0.02
SECRETS = SigningSecrets(
    meta=b"meta-app-secret",
    connectly=b"connectly-secret",
    vonage=b"vonage-signature-secret-0123456789",  # an HS256 key: 32 bytes at least
)
MALFORMED_CODES = {
    "invalid_json",
    "unknown_format",
    "schema_mismatch",
    "invalid_bsuid",
    "invalid_phone",
    "identity_conflict",
    "missing_identity",
}
EVENT_TYPES = {
    "inbound_message",
    "delivery_status",
    "identity_change",
    "contact_shared",
    "message_echo",
    "call",
    "history_thread",
    "contact_sync",
    "preference_update",
}


@dataclass
class Run:
    records: list[GeneratedRecord]
    stats: PipelineStats
    outputs: list[OutputRecord]

    def valid(self) -> list[GeneratedRecord]:
        """The records the pipeline did not dead-letter."""
        dead = {int(dict(o.headers)["dlq.source.offset"]) for o in self.outputs if o.route == "dlq"}
        return [r for offset, r in enumerate(self.records) if offset not in dead]

    def events(self) -> list[IdentityEvent]:
        return [IDENTITY_EVENT_DECODER.decode(o.value) for o in self.outputs if o.route != "dlq"]


def registry() -> Registry:
    file = msgspec.toml.decode(demo_registry_toml(), type=RegistryFile)
    return Registry(file.number)


def run_pipeline(records: list[GeneratedRecord], secrets: SigningSecrets | None = None) -> Run:
    pipeline = Pipeline(registry=registry(), secrets=secrets or SigningSecrets())
    outputs: list[OutputRecord] = []
    for offset, r in enumerate(records):
        record = InputRecord(r.value, r.key, r.headers, "whatsapp.webhooks.raw", 0, offset)
        pipeline.process(record, outputs.append)
    return Run(records, pipeline.stats, outputs)


@pytest.fixture(scope="module")
def run() -> Run:
    return run_pipeline(list(generate(COUNT, seed=SEED, malformed_ratio=MALFORMED)))


def test_same_seed_gives_the_same_bytes() -> None:
    first = list(generate(3000, seed=3))
    assert first == list(generate(3000, seed=3))
    assert first != list(generate(3000, seed=4))
    # With a fixed pool, a shorter stream is a prefix of a longer one: replays line up.
    assert (
        list(generate(1000, seed=3, customers=200))
        == list(generate(2000, seed=3, customers=200))[:1000]
    )


def test_count_and_arguments() -> None:
    assert list(generate(0)) == []
    assert len(list(generate(123))) == 123
    with pytest.raises(ValueError, match="count"):
        generate(-1)
    with pytest.raises(ValueError, match="malformed_ratio"):
        generate(10, malformed_ratio=1.5)
    with pytest.raises(ValueError, match="customers"):
        generate(10, customers=0)
    with pytest.raises(ValueError, match="formats"):
        generate(10, formats=("meta", "telegram"))
    with pytest.raises(ValueError, match="formats"):
        generate(10, formats=())


def test_formats_pick_the_providers() -> None:
    """Only the chosen providers' webhooks (and garbage that is no webhook at all)."""
    meta_only = run_pipeline(list(generate(3000, seed=5, formats=("meta",))))
    assert {e.source.format for e in meta_only.events()} == {"meta"}
    assert meta_only.stats.events
    connectly_only = run_pipeline(list(generate(3000, seed=5, formats=("connectly",))))
    assert {e.source.format for e in connectly_only.events()} == {"connectly"}
    # Naming every format is the default.
    assert list(generate(500, seed=5, formats=FORMATS)) == list(generate(500, seed=5))


def test_registry_has_two_scopes_enabled_and_not() -> None:
    entries = msgspec.toml.decode(demo_registry_toml(), type=RegistryFile).number
    assert len(entries) == 4
    assert {e.scope for e in entries} == {"acme", "globex"}
    assert {(e.scope, e.bsuid_enabled) for e in entries} == {
        ("acme", True),
        ("acme", False),
        ("globex", True),
        ("globex", False),
    }
    assert all(e.number.startswith("+") and e.phone_number_id for e in entries)


def test_traffic_reaches_a_number_outside_the_registry(run: Run) -> None:
    registered = {e.phone_number_id for e in registry().current()}
    seen = {e.business.phone_number_id for e in run.events() if e.source.format == "meta"}
    assert seen - registered  # unknown numbers: not enabled, their own scope
    scopes = {e.business.scope for e in run.events()}
    assert {"acme", "globex"} < scopes


def test_dead_letters_match_the_malformed_ratio(run: Run) -> None:
    dead = run.stats.dead_letters
    assert sum(dead.values()) / COUNT == pytest.approx(MALFORMED, abs=0.005)
    assert set(dead) == MALFORMED_CODES
    # Spread across kinds: no reason code is a rounding error.
    assert min(dead.values()) >= 0.05 * sum(dead.values())
    assert sum(1 for o in run.outputs if o.route == "dlq") == sum(dead.values())


def test_without_malformed_records_nothing_is_dead_lettered() -> None:
    clean = run_pipeline(list(generate(5000, seed=5, malformed_ratio=0.0)))
    assert not clean.stats.dead_letters
    assert clean.stats.records == 5000


def test_every_route_class_and_event_type(run: Run) -> None:
    routes, classes, types = Counter[str](), Counter[str](), Counter[str]()
    for (route, identity_class, event_type), n in run.stats.events.items():
        routes[route] += n
        classes[identity_class] += n
        types[event_type] += n
    assert set(routes) == {"identity", "dropped"}
    assert 0.05 < routes["dropped"] / routes.total() < 0.25
    total = classes.total()
    for identity_class in ("phone_only", "phone_and_bsuid", "bsuid_only"):
        assert classes[identity_class] / total > 0.15, classes
    assert set(types) == EVENT_TYPES
    assert types["inbound_message"] > types["delivery_status"] > types["message_echo"]
    # Only phone-less customers are ever dropped (docs/enablement.md).
    assert {c for (route, c, _t) in run.stats.events if route == "dropped"} == {"bsuid_only"}
    assert run.stats.skips["not_customer_field"] > 0


def test_format_mix(run: Run) -> None:
    records = run.stats.formats
    shares = {fmt: records[fmt] / records.total() for fmt in FORMATS}
    assert shares["meta"] == pytest.approx(0.59, abs=0.06)
    assert shares["connectly"] == pytest.approx(0.21, abs=0.05)
    assert shares["vonage"] == pytest.approx(0.12, abs=0.04)
    assert shares["wati"] == pytest.approx(0.08, abs=0.03)
    # Every identity class arrives through every provider.
    classes = {(e.source.format, e.identity.class_) for e in run.events()}
    assert {(f, c) for f in FORMATS for c in ("phone_only", "phone_and_bsuid", "bsuid_only")} == (
        classes
    )
    labels = Counter(dict(r.headers).get(SOURCE_HEADER) for r in run.records)
    assert labels[None] / COUNT == pytest.approx(0.05, abs=0.02)  # shape detection exercised
    starts = {
        b"meta": (b'{"object":"whatsapp_business_account"',),
        b"connectly": (b'{"timestamp"', b'{"topic"'),
        b"vonage": (b'{"message_uuid"', b'{"channel":"whatsapp"'),
        b"wati": (b'{"id"',),
    }
    for r in run.valid():
        label = dict(r.headers).get(SOURCE_HEADER)
        if label is not None:
            assert r.value.startswith(starts[label]), (label, r.value[:40])
    assert run.stats.skips["other_wati_event"] > 0


def test_identity_details_are_realistic(run: Run) -> None:
    events = run.events()
    statuses = Counter(
        (e.source.format, e.message.status) for e in events if e.event_type == "delivery_status"
    )
    for status in ("sent", "delivered", "read", "failed"):
        assert statuses["meta", status] > 0
    assert statuses["connectly", "delivery_failed"] > 0
    assert any(e.identity.parent_bsuid.startswith(e.identity.country + ".ENT.") for e in events)
    assert any(e.identity.previous_bsuid for e in events if e.event_type == "identity_change")
    assert any(e.identity.phone_attested for e in events if e.event_type == "contact_shared")
    assert any(
        not e.identity.phone_attested
        for e in events
        if e.event_type == "inbound_message" and e.message.status == "received"
    )
    assert {e.message.status for e in events if e.event_type == "contact_sync"} == {
        "add",
        "edit",
        "remove",
    }
    for e in events:
        if e.identity.bsuid and e.identity.phone and e.event_type != "contact_sync":
            assert e.identity.bsuid[:2] == e.identity.country, e
        # A number that is not enabled sees the legacy customer view (docs/enablement.md).
        if not e.gate.number_enabled and e.gate.decision == "admit":
            assert e.customer.user_id == ""


def test_customers_recur(run: Run) -> None:
    keys = [e.identity.key for e in run.events() if e.event_type == "inbound_message"]
    assert len(set(keys)) < 0.6 * len(keys)


def test_phones_per_source(run: Run) -> None:
    meta = b"".join(r.value for r in run.records if r.value.startswith(b'{"object"'))
    connectly = b"".join(r.value for r in run.records if r.value.startswith(b'{"t'))
    assert not re.search(rb'"(from|wa_id|recipient_id|to)":"\+', meta)
    assert re.search(rb'"phoneNumber":"\+\d{8,15}"', connectly)
    assert re.search(rb'"wa_id":"\d{8,15}"', meta)


def test_keys_keep_a_customer_in_one_partition(run: Run) -> None:
    keys = [r.key for r in run.records]
    assert keys.count(None) / COUNT == pytest.approx(0.06, abs=0.03)
    pattern = re.compile(rb"\+\d{8,15}\|([A-Z]{2}\.\d+|\+\d{8,15})")
    assert all(pattern.fullmatch(k) for k in keys if k is not None and b"|" in k)


def test_retries_repeat_earlier_records_exactly(run: Run) -> None:
    seen: dict[bytes, GeneratedRecord] = {}
    repeats = 0
    for r in run.valid():  # some malformed bodies are constants: they recur by chance
        earlier = seen.get(r.value)
        if earlier is not None:
            repeats += 1
            assert (earlier.key, earlier.headers) == (r.key, r.headers)
        seen.setdefault(r.value, r)
    assert repeats / COUNT == pytest.approx(DUPLICATE_RATIO, abs=0.005)


def test_webhook_time_moves_forward_from_june_2026(run: Run) -> None:
    seen: set[str] = set()
    inbound = []
    for e in run.events():
        # Retries repeat an earlier body, time included: keep the first of each event.
        if e.event_type == "inbound_message" and e.source.format == "connectly":
            if e.event_id not in seen:
                inbound.append(e.occurred_at)
            seen.add(e.event_id)
    assert inbound[0].startswith("2026-06-01T")
    assert inbound == sorted(inbound)


def test_signatures_verify_and_change_nothing_else(run: Run) -> None:
    signed = list(generate(COUNT, seed=SEED, malformed_ratio=MALFORMED, signing=SECRETS))
    assert [r.value for r in signed] == [r.value for r in run.records]
    for r in signed:
        headers = dict(r.headers)
        if META_HEADER in headers:
            assert meta_signature_ok(r.value, headers[META_HEADER], SECRETS.meta)
        if CONNECTLY_HEADER in headers:
            assert connectly_signature_ok(r.value, headers[CONNECTLY_HEADER], SECRETS.connectly)
        if VONAGE_HEADER in headers:
            assert vonage_signature_ok(r.value, headers[VONAGE_HEADER], SECRETS.vonage)
    assert any(VONAGE_HEADER in dict(r.headers) for r in signed)
    verified = run_pipeline(signed, SECRETS)
    assert verified.stats.dead_letters == run.stats.dead_letters
    assert verified.stats.events == run.stats.events


def test_a_wrong_secret_dead_letters_every_signed_record() -> None:
    signed = list(generate(2000, seed=SEED, signing=SECRETS))
    wrong_secrets = SigningSecrets(meta=b"x", connectly=b"y", vonage=b"z" * 32)
    wrong = run_pipeline(signed, wrong_secrets)
    # WATI documents no signature: its records are the only ones processed.
    assert {e.source.format for e in wrong.events()} == {"wati"}
    wati = wrong.stats.formats["wati"]
    # Only bodies nobody signed (no format, no signature header, WATI's) fail otherwise.
    assert set(wrong.stats.dead_letters) - {"bad_signature", "unknown_format"} <= {
        "invalid_bsuid",
        "invalid_phone",
        "identity_conflict",
        "missing_identity",
        "schema_mismatch",
    }
    assert wrong.stats.dead_letters["bad_signature"] > 0.99 * (2000 - wati) - 20
