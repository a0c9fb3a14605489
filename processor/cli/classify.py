"""`bsuid-processor classify`: the pure pipeline offline, JSON Lines in and out."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import nullcontext
from typing import IO, Any

import click
import msgspec

from processor.cli.options import common_options, registry_from, settings_from
from processor.core.pipeline import Pipeline
from processor.core.records import InputRecord, OutputRecord
from processor.core.stats import PipelineStats
from processor.settings import ENV_VARS, SIGNING_SECRETS, build_pipeline
from schemas.classify_line import ClassifyLine
from schemas.settings import Settings

_ENCODER = msgspec.json.Encoder()


def _lines(files: tuple[str, ...]) -> Iterator[tuple[str, int, bytes]]:
    """(source name, line number, line) for every non-blank line, read as a stream."""
    for name in files or ("-",):
        opened = nullcontext(sys.stdin.buffer) if name == "-" else open(name, "rb")  # noqa: SIM115
        with opened as handle:
            for number, line in enumerate(handle):
                stripped = line.rstrip(b"\r\n")
                if stripped.strip():
                    yield name, number, stripped


def to_line(output: OutputRecord) -> ClassifyLine:
    headers = {name: value.decode("utf-8", "replace") for name, value in output.headers}
    key = output.key.decode("utf-8", "replace") if output.key is not None else None
    if output.route == "dlq":
        value: msgspec.Raw | str = output.value.decode("utf-8", "replace")
    else:
        # Already encoded by the pipeline: embed the bytes instead of decoding them again.
        value = msgspec.Raw(output.value)
    return ClassifyLine(route=output.route, key=key, headers=headers, value=value)


def classify_stream(
    pipeline: Pipeline, lines: Iterator[tuple[str, int, bytes]], out: IO[bytes]
) -> int:
    """Write one output line per output record, in input order; return the inputs read.

    What was produced is written out even when reading stops half way (a file that cannot
    be read): the lines before it are not lost."""
    buffer: list[bytes] = []

    def emit(output: OutputRecord) -> None:
        buffer.append(_ENCODER.encode(to_line(output)))
        buffer.append(b"\n")

    count = 0
    try:
        for name, number, line in lines:
            pipeline.process(InputRecord(value=line, topic=name, offset=number), emit)
            count += 1
            if len(buffer) > 512:
                out.write(b"".join(buffer))
                buffer.clear()
    finally:
        out.write(b"".join(buffer))
        out.flush()
    return count


def summary(stats: PipelineStats, settings: Settings) -> str:
    """One line: inputs, outputs per route, dead letters per code and why, skips."""
    routes = stats.by_route()
    parts = [f"classify: {stats.records:,} in"]
    parts += [f"{routes[route]:,} {route}" for route in ("identity", "dropped", "dlq")]
    line = ", ".join(parts)
    if stats.formats:
        line += " [" + ", ".join(f"{name} {n:,}" for name, n in sorted(stats.formats.items())) + "]"
    if stats.dead_letters:
        codes = ", ".join(f"{code} {n:,}" for code, n in sorted(stats.dead_letters.items()))
        line += f" ({codes})"
    skipped = sum(stats.skips.values())
    if skipped:
        line += f", {skipped:,} skipped"
    if stats.dead_letters.get("bad_signature") and settings.verify_signatures:
        secrets = [ENV_VARS[n] for n in SIGNING_SECRETS]
        line += (
            f"; bad_signature: a signing secret is set ({' or '.join(secrets)}) and a body"
            " read by classify carries no signature header: unset it, or pass"
            " --no-verify-signatures"
        )
    return line


@click.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    help="Write the output lines to this file instead of stdout",
)
@click.option(
    "--fail-on-dlq", is_flag=True, help="Exit 1 when any input went to the dead-letter output"
)
@click.option(
    "--include-standby/--ignore-standby",
    default=None,
    help="Process standby copies [env BSUID_INCLUDE_STANDBY]",
)
@click.option(
    "--verify-signatures/--no-verify-signatures",
    "verify_signatures",
    default=None,
    help="Check signatures where a secret is set [env BSUID_VERIFY_SIGNATURES]",
)
@common_options
def classify(files: tuple[str, ...], output: str, fail_on_dlq: bool, **flags: Any) -> None:
    """Classify webhook bodies offline (no Kafka).

    Reads JSON Lines (one webhook body per line) from FILES or stdin and writes one JSON line
    per output record to stdout: {"route", "key", "headers", "value"}; a summary line goes to
    stderr. Exits 0 when every input was handled, dead letters included (with --fail-on-dlq,
    1 if any input was dead-lettered).
    """
    settings = settings_from(flags)
    pipeline = build_pipeline(settings, registry_from(settings))
    try:
        sink = nullcontext(sys.stdout.buffer) if output == "-" else open(output, "wb")  # noqa: SIM115
    except OSError as exc:
        raise click.BadParameter(
            f"cannot write {output}: {exc.strerror}", param_hint="'--output'"
        ) from None
    with sink as out:
        classify_stream(pipeline, _lines(files), out)
    line = summary(pipeline.stats, settings)
    dead = sum(pipeline.stats.dead_letters.values())
    if fail_on_dlq and dead:
        # The summary becomes the one error line: it says which codes.
        raise click.ClickException(f"{line}; --fail-on-dlq: {dead:,} input(s) dead-lettered")
    click.echo(line, err=True)
