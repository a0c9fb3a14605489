"""`bsuid-processor topics ensure`: create the topics the processor needs."""

from __future__ import annotations

from typing import Any

import click

from processor.cli.options import kafka_options, run_kafka, settings_from


@click.group()
def topics() -> None:
    """Manage the processor's topics."""


@topics.command()
@kafka_options
@click.option(
    "--links-group-id",
    "links_group_id",
    help="Links consumer group; names its internal topics [env BSUID_LINKS_GROUP_ID]",
)
@click.option("--links-topic", "links_topic", help="Links output topic [env BSUID_LINKS_TOPIC]")
@click.option(
    "--topic-partitions", type=int, help="Partitions of new topics [env BSUID_TOPIC_PARTITIONS]"
)
@click.option(
    "--replication-factor", type=int, help="-1: min(3, brokers) [env BSUID_REPLICATION_FACTOR]"
)
def ensure(**flags: Any) -> None:
    """Create every missing topic of both stages.

    Raw, identity, dropped, dead-letter, the compacted control and replay-state topics, and
    the links stage's compacted links topic, repartition topic and compacted changelog.
    """
    from processor.runtime.topics import all_topic_specs, ensure_topics  # noqa: PLC0415

    settings = settings_from(flags)
    created = run_kafka(ensure_topics(settings, all_topic_specs(settings)), settings)
    click.echo(f"created {len(created)} topic(s): {', '.join(created) or 'none missing'}")
