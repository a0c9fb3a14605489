"""`bsuid-processor dlq inspect|redrive`: look at the dead-letter topic, send records back.

See docs/dlq.md. `inspect` only reads. `redrive` is a replay of the dead-letter topic whose
records are unwrapped and run through the current pipeline into the normal outputs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, get_args

import click
from rich.console import Console
from rich.table import Table

from processor.cli.options import (
    GUARANTEE,
    OptionError,
    kafka_options,
    parse_time,
    run_kafka,
    settings_from,
)
from processor.cli.replay import parse_start, progress_printer
from processor.core.records import DeadLetterCode
from processor.runtime.bounds import Start
from processor.settings import SettingsError, load_registry

CODES = get_args(DeadLetterCode)


def _range(start: str, end: str) -> tuple[Start, int | None]:
    """The range options, or one line naming the wrong one."""
    try:
        first = parse_start(start)
    except click.BadParameter as exc:
        raise OptionError(f"option --from: {exc.format_message()}") from None
    try:
        to_ms = None if end == "end" else int(parse_time(end).timestamp() * 1000)
    except click.BadParameter as exc:
        raise OptionError(f"option --to: {exc.format_message()}") from None
    return first, to_ms


def _codes(values: tuple[str, ...]) -> frozenset[str]:
    for value in values:
        if value not in CODES:
            raise OptionError(
                f"option --code: {value!r} is not a dead-letter code (one of {', '.join(CODES)})"
            )
    return frozenset(values)


def _range_options(func: Any) -> Any:
    func = click.option(
        "--parked",
        is_flag=True,
        help="The parking topic (dead letters that failed again when redriven) instead",
    )(func)
    func = click.option(
        "--code",
        "codes",
        multiple=True,
        metavar="CODE",
        help="Only dead letters with this error code (repeatable), e.g. bad_signature",
    )(func)
    func = click.option(
        "--to",
        "end",
        default="end",
        show_default=True,
        help="end (offsets as of the start) | ISO time (when dead-lettered)",
    )(func)
    return click.option(
        "--from",
        "start",
        default="earliest",
        show_default=True,
        help="earliest | ISO time (when dead-lettered) | P:O[,P:O...] of the dead-letter topic",
    )(func)


@click.group()
def dlq() -> None:
    """Inspect the dead-letter topic and redrive its records through the pipeline."""


@dlq.command("inspect")
@_range_options
@click.option("--samples", default=2, show_default=True, help="Sample records per error code")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of tables")
@kafka_options
def inspect_command(
    *,
    start: str,
    end: str,
    codes: tuple[str, ...],
    parked: bool,
    samples: int,
    as_json: bool,
    **flags: Any,
) -> None:
    """Count dead letters by error code, partition, source and redrive attempts, with a few
    samples (headers, size, digest: never the body; phone numbers masked). Reads only."""
    from processor.dlq.inspect import inspect_dead_letters  # noqa: PLC0415 (loads aiokafka)

    settings = settings_from(flags)
    first, to_ms = _range(start, end)
    topic = settings.parked_topic if parked else settings.dlq_topic
    job = inspect_dead_letters(
        settings, topic, first, to_ms, codes=_codes(codes), samples_per_code=max(samples, 0)
    )
    found = run_kafka(job, settings)
    if as_json:
        document = {
            "topic": found.topic,
            "dead_letters": found.read,
            "by_code": dict(found.by_code.most_common()),
            "by_partition": {str(p): n for p, n in sorted(found.by_partition.items())},
            "by_redrive_attempt": {str(a): n for a, n in sorted(found.by_attempt.items())},
            "by_source_topic": dict(found.by_source),
            "not_dead_letters": found.not_dead_letters,
            "first": _iso(found.first_ms),
            "last": _iso(found.last_ms),
            "samples": {code: [vars(s) for s in kept] for code, kept in found.samples.items()},
        }
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    console = Console()
    counts = Table(title=f"{found.read:,} dead letters on {found.topic}", title_justify="left")
    counts.add_column("what")
    counts.add_column("count", justify="right")
    for code, n in found.by_code.most_common():
        counts.add_row(f"code {code}", f"{n:,}")
    for partition, n in sorted(found.by_partition.items()):
        counts.add_row(f"partition {partition}", f"{n:,}")
    for source, n in found.by_source.most_common():
        counts.add_row(f"from topic {source}", f"{n:,}")
    for attempt, n in sorted(found.by_attempt.items()):
        counts.add_row(
            "never redriven" if attempt == 0 else f"failed {attempt} redrive(s)", f"{n:,}"
        )
    if found.not_dead_letters:
        counts.add_row("not a dead letter (no dlq.* headers)", f"{found.not_dead_letters:,}")
    counts.add_row("first dead-lettered", _iso(found.first_ms) or "-")
    counts.add_row("last dead-lettered", _iso(found.last_ms) or "-")
    console.print(counts)
    for code, kept in found.samples.items():
        for s in kept:
            table = Table(
                title=f"{code}: partition {s.partition} offset {s.offset}, {_iso(s.timestamp_ms)}",
                title_justify="left",
                show_header=False,
            )
            table.add_column("field")
            table.add_column("value", overflow="fold")
            table.add_row("key", s.key or "(none)")
            table.add_row("body", f"{s.size:,} bytes, sha256 {s.sha256}... (not shown)")
            for name, value in s.headers:
                table.add_row(name, value)
            console.print(table)


@dlq.command("redrive")
@_range_options
@click.option(
    "--group",
    default=None,
    help="Consumer group of the redrive (default <group_id>-redrive, with --parked"
    " <group_id>-redrive-parked): a rerun resumes, a second run over the same range adds nothing",
)
@click.option(
    "--max-attempts",
    default=3,
    show_default=True,
    type=click.IntRange(min=1),
    help="Leave parked records that already failed this many redrives",
)
@click.option("--dry-run", is_flag=True, help="Run the pipeline and report; publish nothing")
@kafka_options
@GUARANTEE
def redrive_command(
    *,
    start: str,
    end: str,
    codes: tuple[str, ...],
    parked: bool,
    group: str | None,
    max_attempts: int,
    dry_run: bool,
    **flags: Any,
) -> None:
    """Send dead letters back through the current pipeline into the normal outputs.

    Each record is unwrapped (original bytes and headers, without the dlq.* headers) and
    processed at its original source coordinates: same eventIds as the first time. A record
    that fails again goes to the parking topic (<dlq topic>.parked), never back to the
    dead-letter topic; --parked redrives those. Exactly-once with --guarantee exactly-once
    (Apache Kafka).
    """
    from processor import wiring  # noqa: PLC0415 (loads aiokafka: not for --help)
    from processor.stages.redrive import RedriveOptions  # noqa: PLC0415
    from processor.stages.replay import ReplayPlan  # noqa: PLC0415

    settings = settings_from(flags)
    first, to_ms = _range(start, end)
    topic = settings.parked_topic if parked else settings.dlq_topic
    group = group or f"{settings.group_id}-redrive{'-parked' if parked else ''}"
    options = RedriveOptions(topic, settings.raw_topic, _codes(codes), max_attempts, dry_run)
    plan = ReplayPlan(start=first, to_ms=to_ms, group=group, redrive=options)
    try:
        pipeline = wiring.build_pipeline(settings, load_registry(settings.numbers))
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    update, close = progress_printer("redrive")
    try:
        job = wiring.run_replay(settings, pipeline, plan, update, install_signal_handlers=True)
        result = run_kafka(job, settings)
    finally:
        close()
    _print_summary(result, topic, settings.parked_topic, dry_run)
    if not result.complete:
        read, total = result.progress
        raise click.ClickException(
            f"redrive stopped at {read:,} of {total:,} dead letters;"
            f" run it again with --group {group} to resume"
        )


def _print_summary(result: Any, topic: str, parked: str, dry_run: bool) -> None:
    stats, counts = result.stats, result.redrive
    verb = "would go to" if dry_run else "published to"
    title = f"redrive of {topic}" + (
        " (dry run: nothing published or committed)" if dry_run else ""
    )
    table = Table(title=title, title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("dead letters read", f"{counts.read:,}")
    table.add_row("redriven", f"{counts.redriven:,}")
    for code, n in counts.codes.most_common():
        table.add_row(f"  was {code}", f"{n:,}")
    for reason, n in counts.skipped.most_common():
        table.add_row(f"not redriven: {reason}", f"{n:,}")
    for route, n in sorted(stats.by_route().items()):
        if route == "dlq":
            table.add_row(f"failed again ({verb} {parked})", f"{n:,}")
        else:
            table.add_row(f"{route} events ({verb} the {route} topic)", f"{n:,}")
    for code, n in sorted(stats.dead_letters.items()):
        table.add_row(f"  failed again: {code}", f"{n:,}")
    for reason, n in sorted(stats.skips.items()):
        table.add_row(f"no output: {reason}", f"{n:,}")
    table.add_row("elapsed", f"{result.seconds:.2f} s")
    Console().print(table)


def _iso(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
