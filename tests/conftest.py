"""Shared test fixtures for the pure core: sample bodies, the sample registry, a pipeline.

Everything the tests read lives under tests/fixtures/ (copied from the product examples), so
the suite never depends on files outside the project.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from processor.core.pipeline import Pipeline
from processor.core.records import InputRecord, OutputRecord
from processor.core.registry import Registry
from schemas.registry import RegistryFile
from tests import brokers

FIXTURES = Path(__file__).parent / "fixtures"
WEBHOOKS = FIXTURES / "webhooks"

Run = Callable[..., list[OutputRecord]]


def load_registry(path: Path = FIXTURES / "numbers.toml") -> Registry:
    with path.open("rb") as file:
        entries = msgspec.convert(tomllib.load(file), RegistryFile).number
    return Registry(entries)


@pytest.fixture
def registry() -> Registry:
    """Number A (+15551230001, pnid 200000000000001) enabled, B (...0002) not; scope acme."""
    return load_registry()


@pytest.fixture
def pipeline(registry: Registry) -> Pipeline:
    return Pipeline(registry=registry)


@pytest.fixture
def sample() -> Callable[[str], bytes]:
    """The raw bytes of a sample body, by file stem."""

    def read(name: str) -> bytes:
        return (WEBHOOKS / f"{name}.json").read_bytes()

    return read


@pytest.fixture
def sample_json() -> Callable[[str], Any]:
    """A sample body as a Python object, to be edited and re-encoded by a test."""

    def read(name: str) -> Any:
        return json.loads((WEBHOOKS / f"{name}.json").read_bytes())

    return read


@pytest.fixture
def run(pipeline: Pipeline) -> Run:
    """Process one body (bytes, or a JSON-able object) and return every output in order."""

    def process(
        body: bytes | Any, pipe: Pipeline | None = None, **record: Any
    ) -> list[OutputRecord]:
        value = body if isinstance(body, bytes) else json.dumps(body).encode()
        out: list[OutputRecord] = []
        (pipe or pipeline).process(
            InputRecord(value=value, **{"topic": "whatsapp.webhooks.raw", **record}), out.append
        )
        return out

    return process


# -- real brokers, parallel runs and the summary (tests/brokers.py) ------------------------


def pytest_report_header(config: pytest.Config) -> str:
    return f"brokers: {', '.join(brokers.session_brokers())} (each integration test runs on each)"


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups off the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # One xdist group per broker: its tests share one worker process, so it starts once.
    for item in items:
        group = brokers.broker_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session", autouse=True)
def _stop_brokers() -> Iterator[None]:
    yield
    brokers.stop_brokers()


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand the lines to the controller
        workeroutput["bsuid_summary"] = list(brokers.SUMMARY)


def pytest_testnodedown(node: Any, error: Any) -> None:
    sent = getattr(node, "workeroutput", {}).get("bsuid_summary", [])
    config = node.config
    config._bsuid_worker_lines = [*getattr(config, "_bsuid_worker_lines", []), sent]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = brokers.summary_lines(config)
    if lines:
        terminalreporter.section("brokers and reliability figures")
        for line in lines:
            terminalreporter.write_line(line)
