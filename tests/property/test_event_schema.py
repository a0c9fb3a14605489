"""Every identity event the pipeline publishes validates against the published JSON Schema
(schemas/json/identity.schema.json, what consumers in other languages use)."""

from __future__ import annotations

import json
import tomllib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from processor.core.pipeline import Pipeline
from processor.core.records import InputRecord
from processor.core.registry import Registry
from processor.devkit.generate import demo_registry_toml, generate
from processor.schema_files import SCHEMA_DIR
from schemas.registry import NumberEntry

from .checks import sample_registry, samples
from .strategies import mutated

REGISTRY = sample_registry()
SAMPLES = samples()
IDENTITY = Draft202012Validator(json.loads((SCHEMA_DIR / "identity.schema.json").read_text()))
DEMO_REGISTRY = Registry(
    [NumberEntry(**entry) for entry in tomllib.loads(demo_registry_toml())["number"]]
)
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def events_of(value: bytes, headers: list[tuple[str, bytes]], pipeline: Pipeline) -> list[bytes]:
    out: list[bytes] = []
    record = InputRecord(value=value, headers=headers, topic="whatsapp.webhooks.raw", offset=7)
    pipeline.process(record, lambda o: out.append(o.value) if o.route != "dlq" else None)
    return out


def check(events: list[bytes]) -> None:
    for value in events:
        errors = sorted(IDENTITY.iter_errors(json.loads(value)), key=str)
        assert not errors, f"{errors[0].message} at {errors[0].json_path}"


@FAST
@given(body=mutated(SAMPLES) | mutated(SAMPLES, typed=True))
def test_events_from_mutated_samples_validate(body: bytes) -> None:
    check(events_of(body, [], Pipeline(registry=REGISTRY)))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_events_from_generated_traffic_validate(seed: int) -> None:
    pipeline = Pipeline(registry=DEMO_REGISTRY)
    events: list[bytes] = []
    for record in generate(100, seed=seed):
        events += events_of(record.value, record.headers, pipeline)
    assert events
    check(events)
