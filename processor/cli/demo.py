"""`bsuid-processor demo`: embedded broker, generated traffic, worker until drained, summary."""

from __future__ import annotations

import asyncio

import click
import msgspec
from rich.console import Console

from processor.cli.options import settings_from
from processor.devkit.demo import run_demo, start_demo_broker, summary_tables


@click.command()
@click.option(
    "--records",
    type=click.IntRange(min=1),
    default=50_000,
    show_default=True,
    help="Webhooks to generate",
)
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="warning"
)
def demo(records: int, log_level: str) -> None:
    """Run the whole pipeline on the embedded Tansu broker and print a summary.

    Uses $KAFKA_BOOTSTRAP_SERVERS instead when set (or BROKER=kafka for a local Apache Kafka).
    """
    console = Console()
    with console.status("starting the embedded broker"):
        broker = start_demo_broker()
    try:
        console.print(f"broker: [bold]{broker.describe()}[/bold]")
        settings = settings_from(
            {"bootstrap_servers": broker.bootstrap_servers, "log_level": log_level}
        )
        # Short group sessions: Tansu holds a join for half the session timeout (Apache
        # Kafka refuses sessions under 6 s by default).
        settings = msgspec.structs.replace(
            settings,
            session_timeout_ms=3000 if broker.kind == "tansu" else 6000,
            heartbeat_interval_ms=500,
            http_port=0,
        )
        result = asyncio.run(run_demo(settings, records, console))
    finally:
        broker.stop()
    for table in summary_tables(result):
        console.print(table)
    stats = result.stats
    events = sum(stats.events.values())
    console.print(
        f"[bold]{stats.records:,}[/bold] webhooks -> {events:,} identity events in "
        f"{result.seconds:.2f} s: [bold]{stats.records / result.seconds:,.0f}[/bold] webhooks/s, "
        f"{events / result.seconds:,.0f} events/s"
    )
