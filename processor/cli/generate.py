"""`bsuid-processor generate`: the demo's traffic generator, to a topic or to stdout."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from processor.cli.options import kafka_options, run_kafka, settings_from
from processor.devkit.generate import demo_registry_toml, generate
from processor.devkit.publish import publish


@click.command(name="generate")
@click.option(
    "--count",
    type=click.IntRange(min=0),
    default=10_000,
    show_default=True,
    help="Records to generate",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Same seed, same bytes")
@click.option(
    "--malformed-ratio",
    type=click.FloatRange(0.0, 0.99),
    default=0.02,
    show_default=True,
    help="Share of malformed bodies",
)
@click.option("--topic", default=None, help="Publish to this topic instead of writing stdout")
@click.option(
    "--registry-out",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Also write the number registry the traffic uses (TOML)",
)
@kafka_options
def generate_command(
    count: int,
    seed: int,
    malformed_ratio: float,
    topic: str | None,
    registry_out: str | None,
    **flags: Any,
) -> None:
    """Realistic raw webhooks (Meta and Connectly, every class and shape, ~2% malformed).

    Without --topic, writes one body per line to stdout: the input format of `classify`.
    """
    if registry_out:
        try:
            Path(registry_out).write_text(demo_registry_toml())
        except OSError as exc:
            raise click.BadParameter(
                f"cannot write {registry_out}: {exc.strerror}", param_hint="'--registry-out'"
            ) from None
    records = generate(count, seed=seed, malformed_ratio=malformed_ratio)
    if topic is None:
        out = sys.stdout.buffer
        for record in records:
            out.write(record.value + b"\n")
        out.flush()
        return
    settings = settings_from(flags)
    raw = ((r.key, r.value, r.headers) for r in records)
    sent = run_kafka(publish(settings, topic, raw), settings)
    click.echo(f"published {sent:,} records to {topic}", err=True)
