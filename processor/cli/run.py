"""`bsuid-processor run`: the identity stage (the streaming worker), until SIGTERM/SIGINT."""

from __future__ import annotations

import sys
from typing import Any

import click

from processor.cli.options import (
    CREATE_TOPICS,
    EXIT_WHEN_DRAINED,
    GUARANTEE,
    HTTP_PORT,
    PROCESSES,
    REQUIRE_SIGNATURES,
    SHUTDOWN_TIMEOUT,
    given_flags,
    kafka_options,
    registry_from,
    run_kafka,
    settings_from,
)

#: Flags the parent of `--processes N` sets itself for each child.
CHILD_SET = frozenset({"processes", "http_port", "create_topics"})


@click.command()
@kafka_options
@GUARANTEE
@REQUIRE_SIGNATURES
@CREATE_TOPICS
@HTTP_PORT
@PROCESSES
@SHUTDOWN_TIMEOUT
@EXIT_WHEN_DRAINED
@click.pass_context
def run(ctx: click.Context, /, exit_when_drained: bool, **flags: Any) -> None:
    """Consume the raw topic in a consumer group and publish identity events until stopped.

    On SIGTERM or SIGINT: stop fetching, wait for in-flight outputs, commit, leave the group,
    exit 0. A second signal stops at once (outputs since the last commit are produced again by
    the next worker: at-least-once).

    With --processes N, N such workers join the group from this machine; signals go to all
    of them, and one failing stops the others.
    """
    from processor import wiring  # noqa: PLC0415 (loads aiokafka: not for --help)

    settings = settings_from(flags)
    registry = registry_from(settings)
    if settings.processes > 1:
        own = given_flags(ctx, CHILD_SET)
        sys.exit(run_kafka(wiring.supervise_stage(settings, ("run",), own), settings, wait=False))
    options = wiring.StageOptions(stop_when_drained=exit_when_drained)
    pipeline = wiring.build_pipeline(settings, registry)
    run_kafka(wiring.serve_identity(settings, pipeline, options), settings, wait=False)
