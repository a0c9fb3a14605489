"""`bsuid-processor run`: the streaming worker, until SIGTERM/SIGINT."""

from __future__ import annotations

import sys
from typing import Any

import click

from processor.cli.options import (
    CREATE_TOPICS,
    EXIT_WHEN_DRAINED,
    GUARANTEE,
    PROCESSES,
    SHUTDOWN_TIMEOUT,
    given_flags,
    kafka_options,
    run_kafka,
    settings_from,
)
from processor.service import ServiceOptions, build_pipeline, serve
from processor.settings import SettingsError, load_registry
from processor.supervisor import supervise


@click.command()
@kafka_options
@GUARANTEE
@CREATE_TOPICS
@click.option(
    "--http-port",
    type=int,
    help="Port of /metrics, /healthz, /readyz; 0 turns it off [env BSUID_HTTP_PORT]",
)
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
    settings = settings_from(flags)
    try:
        registry = load_registry(settings.numbers)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    if settings.processes > 1:
        own = given_flags(ctx, frozenset({"processes", "http_port", "create_topics"}))
        sys.exit(run_kafka(supervise(settings, own), settings))
    options = ServiceOptions(stop_when_drained=exit_when_drained)
    run_kafka(serve(settings, build_pipeline(settings, registry), options), settings)
