"""Dead letters unwrapped and redriven (`processor.dlq.letters`, `processor.stages.redrive`):
the original record comes back at its source coordinates, so the events equal those of the
first processing; what fails again is parked with the attempt count; the guard skips."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.structs import TopicPartition

from processor.core.pipeline import Pipeline
from processor.core.records import InputRecord, ItemError, OutputRecord
from processor.core.route import dead_letter
from processor.core.signature import SigningSecrets, sign_meta
from processor.dlq.inspect import Inspection
from processor.dlq.letters import ATTEMPT, REDRIVEN_FROM, DeadLetter
from processor.ops.health import StageHealth
from processor.runtime.handler import Outputs
from processor.runtime.sink import Sink
from processor.stages.redrive import RedriveHandler, RedriveOptions

RAW, DLQ, PARKED = "whatsapp.webhooks.raw", "whatsapp.webhooks.dlq", "whatsapp.webhooks.dlq.parked"
TOPICS = {"identity": "identity", "dropped": "dropped", "dlq": PARKED}
RIGHT, WRONG = b"right-secret", b"wrong-secret"


def original(body: bytes, offset: int = 41) -> InputRecord:
    headers = [("x-hub-signature-256", sign_meta(body, RIGHT)), ("received-at", b"t")]
    return InputRecord(body, b"key-1", headers, RAW, 2, offset, 1_782_000_000_000)


def first_time(pipeline: Pipeline, record: InputRecord) -> list[OutputRecord]:
    out: list[OutputRecord] = []
    pipeline.process(record, out.append)
    return out


def message(
    letter: OutputRecord, offset: int, headers: list[tuple[str, bytes]] | None = None
) -> Any:
    return SimpleNamespace(
        key=letter.key,
        value=letter.value,
        headers=letter.headers if headers is None else headers,
        offset=offset,
        partition=0,
        timestamp=1_782_000_100_000,
    )


class Producer:
    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1, 2}


def handler(pipeline: Pipeline, **options: Any) -> tuple[RedriveHandler, Outputs]:
    redrive = RedriveHandler(
        pipeline, DLQ, TOPICS, None, StageHealth(), options=RedriveOptions(DLQ, RAW, **options)
    )
    sink = Sink(Producer())
    asyncio.run(sink.learn(TOPICS.values()))
    return redrive, Outputs(sink)


def published(out: Outputs) -> dict[str, list[Any]]:
    by_topic: dict[str, list[Any]] = defaultdict(list)
    for (topic, _partition), records in out.sink._pending.items():
        by_topic[topic] += records
    return by_topic


@pytest.fixture
def letters(sample: Callable[[str], bytes], registry: Any) -> list[OutputRecord]:
    """Three Meta bodies dead-lettered by a worker that had the wrong secret."""
    wrong = Pipeline(registry=registry, secrets=SigningSecrets(meta=WRONG))
    found = []
    for i, name in enumerate(
        ["meta_inbound_bsuid_only", "meta_inbound_phone_and_bsuid", "meta_inbound_two_messages"]
    ):
        (letter,) = first_time(wrong, original(sample(name), offset=40 + i))
        assert dict(letter.headers)["dlq.error.code"] == b"bad_signature"
        found.append(letter)
    return found


def test_a_dead_letter_unwraps_to_the_original_record(sample: Callable[[str], bytes]) -> None:
    record = original(sample("meta_inbound_bsuid_only"))
    letter = dead_letter(record, ItemError("bad_signature", "no match"))
    parsed = DeadLetter.of(letter.headers)
    assert parsed is not None
    assert (parsed.code, parsed.message, parsed.attempt) == ("bad_signature", "no match", 0)
    back = parsed.original(letter.key, letter.value, record.timestamp_ms)
    assert back == record


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("dlq.source.topic", b"raw"), ("dlq.source.partition", b"0"), ("dlq.source.offset", b"1")],
        [("dlq.error.code", b"x"), ("dlq.source.topic", b"raw"), ("dlq.source.partition", b"p")],
    ],
)
def test_headers_that_are_not_a_dead_letters_are_refused(headers: list[tuple[str, bytes]]) -> None:
    assert DeadLetter.of(headers) is None


def test_redriven_events_equal_the_first_processing(
    letters: list[OutputRecord], sample: Callable[[str], bytes], registry: Any
) -> None:
    right = Pipeline(registry=registry, secrets=SigningSecrets(meta=RIGHT))
    redrive, out = handler(right)
    redrive.process(TopicPartition(DLQ, 0), [message(x, i) for i, x in enumerate(letters)], out)
    names = ["meta_inbound_bsuid_only", "meta_inbound_phone_and_bsuid", "meta_inbound_two_messages"]
    expected = [
        o
        for i, name in enumerate(names)
        for o in first_time(Pipeline(registry=registry), original(sample(name), offset=40 + i))
    ]
    got = published(out)
    assert sorted(r.value for r in got["identity"] + got["dropped"]) == sorted(
        o.value for o in expected
    )
    assert PARKED not in got
    assert redrive.counts.redriven == 3
    assert redrive.counts.codes == {"bad_signature": 3}


def test_what_fails_again_is_parked_with_the_attempt_and_where_it_came_from(
    letters: list[OutputRecord], registry: Any
) -> None:
    still_wrong = Pipeline(registry=registry, secrets=SigningSecrets(meta=b"another"))
    redrive, out = handler(still_wrong)
    redrive.process(TopicPartition(DLQ, 1), [message(letters[0], 7)], out)
    (parked,) = published(out)[PARKED]
    headers = dict(parked.headers)
    assert parked.value == letters[0].value
    assert headers[ATTEMPT] == b"1"
    assert headers[REDRIVEN_FROM] == f"{DLQ}:1:7".encode()
    assert headers["dlq.source.offset"] == b"40"  # still the raw record's coordinates
    assert [name for name, _ in parked.headers].count("dlq.error.code") == 1
    # Parked once more: the count goes up, the old marks do not pile up.
    again, out2 = handler(still_wrong)
    again.process(TopicPartition(PARKED, 0), [message(parked, 3)], out2)
    (twice,) = published(out2)[PARKED]
    assert dict(twice.headers)[ATTEMPT] == b"2"
    assert [name for name, _ in twice.headers].count(ATTEMPT) == 1


def test_the_guard_and_the_filters_skip_and_count(
    letters: list[OutputRecord], registry: Any
) -> None:
    right = Pipeline(registry=registry, secrets=SigningSecrets(meta=RIGHT))
    redrive, out = handler(right, codes=frozenset({"bad_signature"}), max_attempts=2)
    control = [(n, v.replace(RAW.encode(), b"control")) for n, v in letters[1].headers]
    other_code = [
        (n, b"invalid_phone" if n == "dlq.error.code" else v) for n, v in letters[2].headers
    ]
    batch = [
        message(letters[0], 0, [*letters[0].headers, (ATTEMPT, b"2")]),  # failed twice
        message(letters[1], 1, control),  # a control record's dead letter
        message(letters[2], 2, other_code),  # not a selected code
        message(letters[2], 3, [("webhook-source", b"meta")]),  # no dlq.* headers
    ]
    redrive.process(TopicPartition(DLQ, 0), batch, out)
    assert published(out) == {}
    assert redrive.counts.skipped == {
        "already_redriven": 1,
        "other_source": 1,
        "code_not_selected": 1,
        "not_a_dead_letter": 1,
    }


def test_a_dry_run_publishes_nothing_and_counts_the_outcome(
    letters: list[OutputRecord], registry: Any
) -> None:
    right = Pipeline(registry=registry, secrets=SigningSecrets(meta=RIGHT))
    redrive, out = handler(right, dry_run=True)
    redrive.process(TopicPartition(DLQ, 0), [message(x, i) for i, x in enumerate(letters)], out)
    assert published(out) == {}
    assert right.stats.by_route()["identity"] == 3
    assert right.stats.by_route()["dropped"] == 1


def test_inspect_samples_mask_phones_and_never_show_the_body(
    letters: list[OutputRecord],
) -> None:
    inspection = Inspection(DLQ)
    record = message(letters[1], 5, [*letters[1].headers, ("dlq.note", b"from +14155550123")])
    record.key = b"14155550123"
    inspection.add(record, frozenset(), 2)
    (shown,) = inspection.samples["bad_signature"]
    text = repr(shown)
    assert "14155550123" not in text
    assert shown.key == "141******23"
    assert shown.size == len(letters[1].value)
    assert letters[1].value.decode()[:40] not in text
    assert inspection.by_code == {"bad_signature": 1}
