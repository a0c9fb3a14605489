"""`bsuid-processor numbers set|list`: change enablement at runtime through the control topic."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from processor.cli.options import IsoTime, kafka_options, registry_from, run_kafka, settings_from
from processor.core.phone import normalize_phone
from processor.settings import check_registry
from processor.stages.control import latest_changes, publish_change
from schemas.control import EnablementState


@click.group()
def numbers() -> None:
    """Business numbers: BSUID enablement per number, at runtime."""


@numbers.command(name="set")
@click.argument("number")
@click.option("--enabled/--disabled", required=True, help="BSUID support on this number")
@click.option("--scope", required=True, help="Business portfolio (the BSUID scope)")
@click.option("--phone-number-id", default="", help="Meta's id for the number")
@click.option(
    "--effective-at", type=IsoTime(), default=None, help="ISO 8601 time with zone; default: now"
)
@kafka_options
def set_number(
    number: str,
    enabled: bool,
    scope: str,
    phone_number_id: str,
    effective_at: datetime | None,
    **flags: Any,
) -> None:
    """Publish a change for NUMBER (E.164) that takes effect at --effective-at.

    Workers apply it without a restart, to events whose own time is at or after that instant.
    """
    settings = settings_from(flags)
    phone = normalize_phone(number)
    if phone is None:
        raise click.BadParameter(f"{number!r} is not a phone number", param_hint="NUMBER")
    when = effective_at or datetime.now(UTC)
    state = EnablementState(
        number=phone.e164,
        phone_number_id=phone_number_id,
        scope=scope,
        bsuid_enabled=enabled,
        effective_at=when,
    )
    run_kafka(publish_change(settings, state), settings)
    click.echo(f"{phone.e164}: bsuid_enabled={enabled} scope={scope} from {when.isoformat()}")


@numbers.command(name="list")
@kafka_options
def list_numbers(**flags: Any) -> None:
    """Print the registry file and every change published on the control topic."""
    settings = settings_from(flags)
    registry = registry_from(settings)
    table = Table(title="Business numbers")
    for column in (
        "number",
        "phone_number_id",
        "scope",
        "bsuid_enabled",
        "effective from",
        "source",
    ):
        table.add_column(column)
    for state in registry.current():
        table.add_row(
            state.number,
            state.phone_number_id,
            state.scope,
            str(state.bsuid_enabled),
            "always",
            "file",
        )
    for change in run_kafka(latest_changes(settings), settings).values():
        for entry in (*change.history, change):
            table.add_row(
                entry.number,
                entry.phone_number_id,
                entry.scope,
                str(entry.bsuid_enabled),
                entry.effective_at.isoformat(),
                "control topic",
            )
    Console().print(table)


@numbers.command(name="validate")
@click.argument("file", type=click.Path(dir_okay=False))
def validate(file: str) -> None:
    """Check a number registry FILE: TOML shape, phone numbers, scopes, duplicate numbers, a
    phone_number_id under two numbers, an empty file. One line per problem, exit 1 if any."""
    entries, problems = check_registry(file)
    for problem in problems:
        click.echo(f"Error: {problem}", err=True)
    if problems:
        raise SystemExit(1)
    enabled = sum(entry.bsuid_enabled for entry in entries)
    scopes = len({entry.scope for entry in entries})
    click.echo(f"{file}: {len(entries)} numbers, {enabled} BSUID-enabled, {scopes} scopes: OK")
