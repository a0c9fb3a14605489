"""`bsuid-processor links`: the identity-links stage (`run`), its topics, and `lookup`."""

from __future__ import annotations

import sys
from typing import Any

import click
import msgspec

from processor.cli.options import (
    CREATE_TOPICS,
    EXIT_WHEN_DRAINED,
    GUARANTEE,
    HTTP_PORT,
    PROCESSES,
    SHUTDOWN_TIMEOUT,
    given_flags,
    kafka_options,
    run_kafka,
    settings_from,
)
from processor.cli.run import CHILD_SET

_LINK_FLAGS = [
    click.option(
        "--links-topic",
        "links_topic",
        help="Compacted links output topic [env BSUID_LINKS_TOPIC]",
    ),
    click.option(
        "--links-group-id",
        "links_group_id",
        help="Consumer group; also names the internal topics [env BSUID_LINKS_GROUP_ID]",
    ),
]


def _link_options(func: Any) -> Any:
    for flag in reversed(_LINK_FLAGS):
        func = flag(func)
    return kafka_options(func)


@click.group()
def links() -> None:
    """Identity links: phone <-> BSUID per scope, kept from the identity topic."""


@links.command("run")
@_link_options
@GUARANTEE
@CREATE_TOPICS
@HTTP_PORT
@PROCESSES
@SHUTDOWN_TIMEOUT
@EXIT_WHEN_DRAINED
@click.pass_context
def run(ctx: click.Context, /, exit_when_drained: bool, **flags: Any) -> None:
    """Keep the current link between phone and BSUID per scope, read from the identity topic.

    Publishes one record per `<scope>/<bsuid>` and `<scope>/<phone>` key on the compacted
    links topic (a tombstone when a key's link is superseded) and announces BSUID rotations
    seen by phone continuity as identity_change events. Serves /healthz, /readyz and /metrics
    like `run`. On SIGTERM or SIGINT: drain, commit, exit 0.
    """
    from processor import wiring  # noqa: PLC0415 (loads aiokafka: not for --help)

    settings = settings_from(flags)
    if settings.processes > 1:
        own = given_flags(ctx, CHILD_SET)
        job = wiring.supervise_stage(settings, ("links", "run"), own)
        sys.exit(run_kafka(job, settings, wait=False))
    options = wiring.StageOptions(stop_when_drained=exit_when_drained)
    run_kafka(wiring.serve_links(settings, options), settings, wait=False)


@links.command("topics")
@_link_options
@click.option(
    "--topic-partitions", type=int, help="Partitions of new topics [env BSUID_TOPIC_PARTITIONS]"
)
@click.option(
    "--replication-factor", type=int, help="-1: min(3, brokers) [env BSUID_REPLICATION_FACTOR]"
)
def topics(**flags: Any) -> None:
    """Create the missing links topics (links, repartition, changelog).

    `bsuid-processor topics ensure` creates these and every other topic of the processor.
    """
    from processor.runtime.topics import ensure_topics, links_topic_specs  # noqa: PLC0415

    settings = settings_from(flags)
    created = run_kafka(ensure_topics(settings, links_topic_specs(settings)), settings)
    click.echo(f"created {len(created)} topic(s): {', '.join(created) or 'none missing'}")


@links.command("lookup")
@_link_options
@click.argument("keys", nargs=-1, required=True)
def lookup(keys: tuple[str, ...], **flags: Any) -> None:
    """Print the current link of each KEY (`<scope>/<bsuid>` or `<scope>/<E.164 phone>`).

    One JSON line per key: {"key": ..., "link": {...}}, with "link": null when the key has
    no current link (never seen, or superseded).
    """
    from processor.links.lookup import lookup as lookup_keys  # noqa: PLC0415

    settings = settings_from(flags)
    found = run_kafka(lookup_keys(settings, list(keys)), settings)
    for key in keys:
        click.echo(msgspec.json.encode({"key": key, "link": found[key]}).decode())
