"""`bsuid-processor classify`: the pure pipeline offline, JSON Lines in and out (CONTRACT 7)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import nullcontext
from typing import IO, Any

import click
import msgspec

from processor.cli.options import common_options, settings_from
from processor.core.pipeline import Pipeline
from processor.core.records import InputRecord, OutputRecord
from processor.core.signature import SigningSecrets
from processor.settings import SettingsError, load_registry
from schemas.classify_line import ClassifyLine

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
    """Write one output line per output record, in input order; return the inputs read."""
    buffer: list[bytes] = []

    def emit(output: OutputRecord) -> None:
        buffer.append(_ENCODER.encode(to_line(output)))
        buffer.append(b"\n")

    count = 0
    for name, number, line in lines:
        pipeline.process(InputRecord(value=line, topic=name, offset=number), emit)
        count += 1
        if len(buffer) > 512:
            out.write(b"".join(buffer))
            buffer.clear()
    out.write(b"".join(buffer))
    out.flush()
    return count


@click.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--include-standby/--ignore-standby",
    default=None,
    help="Process standby copies [env BSUID_INCLUDE_STANDBY]",
)
@common_options
def classify(files: tuple[str, ...], **flags: Any) -> None:
    """Classify webhook bodies offline (no Kafka).

    Reads JSON Lines (one webhook body per line) from FILES or stdin and writes one JSON line
    per output record to stdout: {"route", "key", "headers", "value"}. Exits 0 when every input
    was handled, dead letters included.
    """
    settings = settings_from(flags)
    try:
        registry = load_registry(settings.numbers)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    pipeline = Pipeline(
        registry=registry,
        secrets=SigningSecrets(
            meta=settings.meta_app_secret.encode(),
            connectly=settings.connectly_webhook_secret.encode(),
        ),
        include_standby=settings.include_standby,
    )
    classify_stream(pipeline, _lines(files), sys.stdout.buffer)
