"""`bsuid-processor topics ensure`: create the topics the processor needs."""

from __future__ import annotations

from typing import Any

import click

from processor.cli.options import kafka_options, run_kafka, settings_from
from processor.kafka.admin import ensure_topics, topic_specs


@click.group()
def topics() -> None:
    """Manage the processor's topics."""


@topics.command()
@kafka_options
@click.option(
    "--topic-partitions", type=int, help="Partitions of new topics [env BSUID_TOPIC_PARTITIONS]"
)
@click.option(
    "--replication-factor", type=int, help="-1: min(3, brokers) [env BSUID_REPLICATION_FACTOR]"
)
def ensure(**flags: Any) -> None:
    """Create missing topics (raw, identity, dropped, dead-letter, compacted control topic)."""
    settings = settings_from(flags)
    created = run_kafka(ensure_topics(settings, topic_specs(settings)), settings)
    click.echo(f"created {len(created)} topic(s): {', '.join(created) or 'none missing'}")
