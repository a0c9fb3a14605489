"""eventId determinism (docs/schemas.md): the same content always gives the same id, whatever the
Kafka coordinates; a different status gives a different id."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from processor.core.pipeline import Pipeline
from processor.core.records import InputRecord

from .checks import decode_event, process, sample_registry, samples, without_source
from .strategies import mutated

REGISTRY = sample_registry()
SAMPLES = samples()
any_mutation = mutated(SAMPLES) | mutated(SAMPLES, typed=True)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
coordinates = st.tuples(
    st.text(max_size=10), st.integers(0, 1000), st.integers(0, 2**62), st.integers(0, 2**40)
)


@FAST
@given(value=any_mutation | st.sampled_from(sorted(SAMPLES.values())), a=coordinates, b=coordinates)
def test_same_content_same_ids(
    value: bytes, a: tuple[str, int, int, int], b: tuple[str, int, int, int]
) -> None:
    outputs = []
    for topic, partition, offset, timestamp_ms in (a, b):
        pipe = Pipeline(registry=REGISTRY)
        out = process(
            pipe,
            InputRecord(
                value=value,
                topic=topic,
                partition=partition,
                offset=offset,
                timestamp_ms=timestamp_ms,
            ),
        )
        outputs.append(out)
    first, second = outputs
    published = [(o.route, o.key) for o in first if o.route != "dlq"]
    assert published == [(o.route, o.key) for o in second if o.route != "dlq"]
    # The Kafka time is only a fallback for bodies without a time: compare where it is unused.
    for one, two in zip(first, second, strict=True):
        if one.route == "dlq":
            assert two.route == "dlq"
            continue
        assert decode_event(one).event_id == decode_event(two).event_id
        if a[3] // 1000 == b[3] // 1000:
            assert without_source(one) == without_source(two)


statuses = st.sampled_from(["sent", "delivered", "read", "failed"]) | st.text(
    min_size=1, max_size=12
)


@FAST
@given(
    wamid=st.text(min_size=1, max_size=20),
    first=statuses,
    second=statuses,
    indent=st.sampled_from([None, 2]),
)
def test_status_ids(wamid: str, first: str, second: str, indent: int | None) -> None:
    def status_id(status: str, timestamp: str) -> str:
        doc = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "300000000000001",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "metadata": {"phone_number_id": "200000000000001"},
                                "statuses": [
                                    {
                                        "id": wamid,
                                        "status": status,
                                        "timestamp": timestamp,
                                        "recipient_id": "14155550123",
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
        out = process(
            Pipeline(registry=REGISTRY), InputRecord(value=json.dumps(doc, indent=indent).encode())
        )
        assert len(out) == 1
        return decode_event(out[0]).event_id

    # A retry (other formatting, later delivery time) keeps the id; another status changes it.
    assert status_id(first, "1782000000") == status_id(first, "1782000999")
    assume(first != second)
    assert status_id(first, "1782000000") != status_id(second, "1782000000")
