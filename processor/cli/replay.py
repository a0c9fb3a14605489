"""`bsuid-processor replay`: bounded backfill of the raw topic through the same pipeline."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import click
import structlog
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from processor.cli.options import (
    GUARANTEE,
    REQUIRE_SIGNATURES,
    kafka_options,
    parse_time,
    registry_from,
    run_kafka,
    settings_from,
)
from processor.runtime.bounds import Start


class ReplayStart(click.ParamType[Start]):
    """`--from`: earliest, an ISO time, or partition:offset pairs; a wrong value names it."""

    name = "START"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return parse_start(value)
        except click.BadParameter as exc:
            self.fail(exc.message, param, ctx)


def parse_end(text: str) -> int | None:
    """`--to`: `end` (None: the end offsets as of the start) or an ISO time, in unix ms."""
    return None if text == "end" else int(parse_time(text).timestamp() * 1000)


class ReplayEnd(click.ParamType["int | None"]):
    name = "END"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return parse_end(value)
        except click.BadParameter as exc:
            self.fail(exc.message, param, ctx)


def parse_start(text: str) -> Start:
    """`earliest`, an ISO 8601 time with a zone, or `partition:offset[,...]`."""
    if text == "earliest":
        return text
    if ":" in text and "T" not in text:
        try:
            return {int(p): int(o) for p, o in (item.split(":") for item in text.split(","))}
        except ValueError:
            raise click.BadParameter(
                f"{text!r}: expected earliest, an ISO time or partition:offset[,...]"
            ) from None
    try:
        return parse_time(text)
    except click.BadParameter:
        raise click.BadParameter(
            f"{text!r}: expected earliest, an ISO 8601 time with a zone or partition:offset[,...]"
        ) from None


@click.command()
@click.option(
    "--from",
    "start",
    type=ReplayStart(),
    default="earliest",
    show_default=True,
    help="earliest | ISO time | P:O[,P:O...]",
)
@click.option(
    "--to",
    "end",
    type=ReplayEnd(),
    default="end",
    show_default=True,
    help="end (offsets as of the start) | ISO time",
)
@click.option("--output-suffix", default="", help="Write to <topic><suffix> (created if missing)")
@click.option("--group", default=None, help="Commit progress in this group; a rerun resumes")
@kafka_options
@GUARANTEE
@REQUIRE_SIGNATURES
def replay_command(
    start: Start, end: int | None, output_suffix: str, group: str | None, **flags: Any
) -> None:
    """Replay a range of the raw topic through the pipeline, then stop and print a summary.

    Deterministic: two replays of the same range give the same events (same eventIds, same
    gate decisions, gated with the enablement in force at each event's own time).
    """
    from processor import wiring  # noqa: PLC0415 (loads aiokafka: not for --help)
    from processor.stages.replay import ReplayPlan  # noqa: PLC0415

    settings = settings_from(flags)
    plan = ReplayPlan(
        start=start,
        to_ms=end,
        output_suffix=output_suffix,
        group=group,
    )
    pipeline = wiring.build_pipeline(settings, registry_from(settings))
    update, close = progress_printer()
    try:
        job = wiring.run_replay(settings, pipeline, plan, update, install_signal_handlers=True)
        result = run_kafka(job, settings)
    finally:
        close()
    stats = result.stats
    table = Table(title=f"replay of {settings.raw_topic} ({result.partitions} partitions)")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("records read", f"{stats.records:,}")
    for route, count in sorted(stats.by_route().items()):
        table.add_row(f"route {route}", f"{count:,}")
    classes: dict[str, int] = {}
    for (_route, cls, _type), count in stats.events.items():
        classes[cls] = classes.get(cls, 0) + count
    for cls, count in sorted(classes.items()):
        table.add_row(f"class {cls}", f"{count:,}")
    for code, count in sorted(stats.dead_letters.items()):
        table.add_row(f"dead letter {code}", f"{count:,}")
    for reason, count in sorted(stats.skips.items()):
        table.add_row(f"skip {reason}", f"{count:,}")
    table.add_row("elapsed", f"{result.seconds:.2f} s")
    table.add_row("rate", f"{stats.records / max(result.seconds, 1e-3):,.0f} records/s")
    Console().print(table)
    if not result.complete:
        read, total = result.progress
        resume = (
            f"run it again with --group {group} to resume"
            if group
            else "without --group nothing was committed: a new run starts over"
        )
        raise click.ClickException(f"replay stopped at {read:,} of {total:,} records; {resume}")


def progress_printer(
    label: str = "replay",
) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A rich progress bar on a terminal; a log line every 5 s otherwise."""
    if sys.stderr.isatty():
        bar = Progress(
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            transient=True,
        )
        task = bar.add_task(label, total=None, rate="")
        bar.start()
        started = time.monotonic()

        def update(read: int, total: int) -> None:
            rate = read / max(time.monotonic() - started, 1e-3)
            bar.update(task, completed=read, total=total, rate=f"{rate:,.0f} rec/s")

        return update, bar.stop
    last = [0.0]

    def log_line(read: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 5.0 or read == total:
            last[0] = now
            structlog.get_logger(f"processor.{label}").info(
                f"{label} progress", read=read, total=total
            )

    return log_line, lambda: None
