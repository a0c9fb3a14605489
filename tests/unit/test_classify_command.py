"""`bsuid-processor classify`: the contract's output lines, exit status, constant memory."""

from __future__ import annotations

import io
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

from click.testing import CliRunner

from processor.cli.classify import classify_stream
from processor.cli.main import cli
from processor.core.pipeline import Pipeline
from processor.devkit.generate import generate
from tests.unit.test_samples import EXPECTED

FIXTURES = Path(__file__).parent.parent / "fixtures"
#: Output lines of the samples, and how many go to the dropped route (test_samples.EXPECTED).
SAMPLE_OUTPUTS = sum(len(outputs) for outputs in EXPECTED.values())
SAMPLE_DROPPED = sum(route == "dropped" for outputs in EXPECTED.values() for route, *_ in outputs)


def sample_lines() -> str:
    bodies = sorted((FIXTURES / "webhooks").glob("*.json"))
    return "".join(json.dumps(json.loads(p.read_text())) + "\n" for p in bodies)


def test_lines_follow_the_contract_and_exit_zero(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(sample_lines() + "{broken\n\n")
    result = CliRunner().invoke(
        cli, ["classify", "--numbers", str(FIXTURES / "numbers.toml"), str(source)]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert {line["route"] for line in lines} == {"identity", "dropped", "dlq"}
    for line in lines:
        assert set(line) == {"route", "key", "headers", "value"}
        if line["route"] == "dlq":
            assert line["value"] == "{broken"
            assert line["headers"]["dlq.error.code"] == "invalid_json"
        else:
            assert line["value"]["schema"] == "customer-identity/1"
            assert isinstance(line["key"], str)
    assert sum(line["route"] == "dlq" for line in lines) == 1
    assert sum(line["route"] == "dropped" for line in lines) == SAMPLE_DROPPED
    assert len(lines) == SAMPLE_OUTPUTS + 1


def test_stdin_is_read_when_no_file_is_given() -> None:
    result = CliRunner().invoke(
        cli, ["classify", "--numbers", str(FIXTURES / "numbers.toml")], input=sample_lines()
    )
    assert result.exit_code == 0
    # One line per output of each sample (none for the skipped one, two for a two-message body).
    assert len(result.stdout.splitlines()) == SAMPLE_OUTPUTS


def test_a_malformed_registry_stops_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "numbers.toml"
    bad.write_text('[[number]]\nnumber = "+15551230001"\nscope = "acme"\nbsuid_enabled = "yes"\n')
    result = CliRunner().invoke(cli, ["classify", "--numbers", str(bad)], input="")
    assert result.exit_code != 0
    assert "number #1" in result.output
    assert "bsuid_enabled" in result.output


class Discard(io.RawIOBase):
    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.written += len(data)
        return len(data)


def lines(count: int) -> Iterator[tuple[str, int, bytes]]:
    for number, record in enumerate(generate(count, seed=3, customers=500)):
        yield "gen", number, record.value


def peak_memory(count: int) -> tuple[int, int]:
    out = Discard()
    pipeline = Pipeline()
    tracemalloc.start()
    try:
        classify_stream(pipeline, lines(count), out)  # type: ignore[arg-type]
        return tracemalloc.get_traced_memory()[1], out.written
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_as_the_input_grows() -> None:
    """The input streams: four times the lines, about the same peak (not four times)."""
    small_peak, small_out = peak_memory(5_000)
    large_peak, large_out = peak_memory(20_000)
    assert large_out > 3.5 * small_out
    assert large_peak < 1.5 * small_peak, (small_peak, large_peak)
