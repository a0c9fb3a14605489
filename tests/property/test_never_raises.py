"""`Pipeline.process` never raises, and every input ends as outputs, a counted skip, or exactly
one dead letter with a code from docs/dlq.md."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.core.pipeline import Pipeline
from processor.core.records import InputRecord
from processor.core.signature import (
    VONAGE_HEADER,
    SigningSecrets,
    sign_connectly,
    sign_meta,
    sign_vonage,
)

from .checks import process, sample_registry, samples
from .strategies import json_values, mutated, webhook_shaped

REGISTRY = sample_registry()
SAMPLES = samples()
any_mutation = mutated(SAMPLES) | mutated(SAMPLES, typed=True)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: Generating nested JSON costs more than processing it: fewer, richer examples.
JSON = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

header_names = st.sampled_from(
    [
        "webhook-source",
        "x-hub-signature-256",
        "x-connectly-hmac-sha256",
        VONAGE_HEADER,
        "received-at",
        "other",
    ]
)
header_values = st.sampled_from(
    [b"meta", b"connectly", b"vonage", b"wati", b"META", b"", b"sha256=00", b"Bearer x.y.z"]
) | st.binary(max_size=50)
headers = st.lists(st.tuples(header_names, header_values), max_size=3)
kafka_time = st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.just(1_782_000_000_000)


def record(value: bytes, draw_headers: list[tuple[str, bytes]], timestamp_ms: int) -> InputRecord:
    return InputRecord(
        value=value,
        key=b"k",
        headers=draw_headers,
        topic="whatsapp.webhooks.raw",
        partition=3,
        offset=1234,
        timestamp_ms=timestamp_ms,
    )


@FAST
@given(value=st.binary(max_size=3000), draw_headers=headers, timestamp_ms=kafka_time)
def test_arbitrary_bytes(
    value: bytes, draw_headers: list[tuple[str, bytes]], timestamp_ms: int
) -> None:
    process(Pipeline(registry=REGISTRY), record(value, draw_headers, timestamp_ms))


@JSON
@given(doc=json_values, draw_headers=headers, timestamp_ms=kafka_time)
def test_arbitrary_json(doc: Any, draw_headers: list[tuple[str, bytes]], timestamp_ms: int) -> None:
    value = json.dumps(doc).encode()
    process(Pipeline(registry=REGISTRY), record(value, draw_headers, timestamp_ms))


@JSON
@given(doc=webhook_shaped(), timestamp_ms=kafka_time)
def test_webhook_shaped_json(doc: Any, timestamp_ms: int) -> None:
    process(Pipeline(registry=REGISTRY), record(json.dumps(doc).encode(), [], timestamp_ms))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=any_mutation, timestamp_ms=kafka_time, standby=st.booleans())
def test_mutated_samples(value: bytes, timestamp_ms: int, standby: bool) -> None:
    pipeline = Pipeline(registry=REGISTRY, include_standby=standby)
    process(pipeline, record(value, [], timestamp_ms))


@FAST
@given(value=any_mutation, sign=st.sampled_from(["meta", "connectly", "vonage", "wrong", "none"]))
def test_mutated_samples_with_signatures(value: bytes, sign: str) -> None:
    # 32 bytes at least: the HS256 key of Vonage's JWTs (PyJWT warns about shorter ones).
    secret = b"s3cret-" + b"0123456789" * 3
    secrets = SigningSecrets(meta=secret, connectly=secret, vonage=secret)
    pipeline = Pipeline(registry=REGISTRY, secrets=secrets)
    signed = {
        "meta": [("x-hub-signature-256", sign_meta(value, secret))],
        "connectly": [("x-connectly-hmac-sha256", sign_connectly(value, secret))],
        "vonage": [("webhook-source", b"vonage"), (VONAGE_HEADER, sign_vonage(value, secret))],
        "wrong": [("x-hub-signature-256", sign_meta(value + b" ", secret))],
        "none": [],
    }[sign]
    out = process(pipeline, record(value, signed, 0))
    codes = [dict(o.headers).get("dlq.error.code") for o in out]
    if sign == "wrong":
        # The header names the format: verified before the body is even read.
        assert codes == [b"bad_signature"]
    elif sign == "none" and pipeline.stats.formats["wati"]:
        # WATI documents no signature: no secret applies to its bodies, which are processed
        # (outputs, a skip or a dead letter) like those of a pipeline without secrets.
        pass
    elif sign == "none":
        # Never processed. A body whose format cannot be told cannot be checked against a
        # secret either, so it may be dead-lettered for what it is instead.
        assert len(codes) == 1
        assert codes[0] in (
            b"bad_signature",
            b"invalid_json",
            b"unknown_format",
            b"schema_mismatch",
        )
