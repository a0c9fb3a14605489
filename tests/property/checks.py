"""What every record must end as (docs/delivery.md), checked on any input."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Final

import msgspec

from processor.core.pipeline import Pipeline
from processor.core.records import InputRecord, OutputRecord
from processor.core.registry import Registry
from schemas.identity import IDENTITY_EVENT_DECODER, IdentityEvent
from schemas.registry import RegistryFile

FIXTURES: Final = Path(__file__).parents[1] / "fixtures"
WEBHOOKS: Final = FIXTURES / "webhooks"

CONTRACT_CODES: Final = frozenset(
    {
        "invalid_json",
        "unknown_format",
        "schema_mismatch",
        "invalid_bsuid",
        "invalid_phone",
        "identity_conflict",
        "missing_identity",
        "bad_signature",
        "too_large",
    }
)
DLQ_HEADERS: Final = (
    "dlq.error.code",
    "dlq.error.message",
    "dlq.source.topic",
    "dlq.source.partition",
    "dlq.source.offset",
)


def sample_registry() -> Registry:
    with (FIXTURES / "numbers.toml").open("rb") as file:
        return Registry(msgspec.convert(tomllib.load(file), RegistryFile).number)


def samples() -> dict[str, bytes]:
    return {path.stem: path.read_bytes() for path in sorted(WEBHOOKS.glob("*.json"))}


def process(pipeline: Pipeline, record: InputRecord) -> list[OutputRecord]:
    """Run one record and check the outcome rule; return the outputs for further checks."""
    out: list[OutputRecord] = []
    skips_before = sum(pipeline.stats.skips.values())
    records_before = pipeline.stats.records
    pipeline.process(record, out.append)  # must never raise
    skipped = sum(pipeline.stats.skips.values()) - skips_before
    assert pipeline.stats.records == records_before + 1
    check_outcome(record, out, skipped)
    return out


def check_outcome(record: InputRecord, out: list[OutputRecord], skipped: int) -> None:
    published = [o for o in out if o.route in ("identity", "dropped")]
    dead = [o for o in out if o.route == "dlq"]
    assert len(published) + len(dead) == len(out)
    if published:
        # Outputs, plus at most one dead letter naming the items that failed, emitted last.
        assert len(dead) <= 1
        assert not dead or out[-1] is dead[0]
        assert skipped == 0
    elif dead:
        assert len(out) == 1
        assert skipped == 0
    else:
        assert skipped == 1, "a record with no output must be a counted skip"
    for letter in dead:
        check_dead_letter(record, letter)
    for output in published:
        check_event(output, decode_event(output))


def check_dead_letter(record: InputRecord, letter: OutputRecord) -> None:
    assert letter.key == record.key
    assert letter.value == record.value
    assert letter.headers[: len(record.headers)] == record.headers
    added = dict(letter.headers[len(record.headers) :])
    assert tuple(added) == DLQ_HEADERS
    assert added["dlq.error.code"].decode() in CONTRACT_CODES
    assert added["dlq.source.topic"] == record.topic.encode()
    assert added["dlq.source.partition"] == str(record.partition).encode()
    assert added["dlq.source.offset"] == str(record.offset).encode()


def decode_event(output: OutputRecord) -> IdentityEvent:
    return IDENTITY_EVENT_DECODER.decode(output.value)


def check_event(output: OutputRecord, event: IdentityEvent) -> None:
    identity, gate, customer = event.identity, event.gate, event.customer
    assert identity.key.startswith(f"{event.business.scope}/")
    assert identity.key == f"{event.business.scope}/{identity.bsuid or identity.phone}"
    has_bsuid, has_phone = bool(identity.bsuid), bool(identity.phone)
    assert identity.class_ == (
        "phone_and_bsuid"
        if has_bsuid and has_phone
        else "bsuid_only"
        if has_bsuid
        else "phone_only"
    )
    assert not identity.phone or identity.phone.startswith("+")
    assert len(event.event_id) == 32
    if output.route == "identity":
        assert output.key == identity.key.encode()
        assert gate.decision == "admit"
    else:
        assert output.route == "dropped"
        assert output.key == event.business.number.encode()
        assert gate.decision == "drop"
        assert identity.class_ == "bsuid_only"
        assert not gate.number_enabled
    # reach follows the customer view of the same event.
    assert event.reach.session_user_id == customer.user_id
    assert event.reach.auth_templates == bool(customer.phone_number)
    if customer.phone_number:
        assert event.reach.template_to == customer.phone_number
    if gate.number_enabled:
        assert customer.user_id == identity.bsuid
    else:
        assert customer.user_id == ""
        assert customer.id == identity.phone


def without_source(output: OutputRecord) -> Any:
    """The event with its Kafka coordinates removed: what must not depend on them."""
    event = msgspec.json.decode(output.value)
    event.pop("source")
    return event
