"""`bsuid-processor run`: the streaming worker, until SIGTERM/SIGINT."""

from __future__ import annotations

from typing import Any

import click

from processor.cli.options import GUARANTEE, kafka_options, run_kafka, settings_from
from processor.service import ServiceOptions, build_pipeline, serve
from processor.settings import SettingsError, load_registry


@click.command()
@kafka_options
@GUARANTEE
@click.option(
    "--create-topics/--no-create-topics",
    default=None,
    help="Create missing topics first [env BSUID_CREATE_TOPICS]",
)
@click.option(
    "--http-port",
    type=int,
    help="Port of /metrics, /healthz, /readyz; 0 turns it off [env BSUID_HTTP_PORT]",
)
@click.option(
    "--shutdown-timeout-s",
    type=float,
    help="Longest drain on SIGTERM [env BSUID_SHUTDOWN_TIMEOUT_S]",
)
@click.option(
    "--exit-when-drained",
    is_flag=True,
    help="Burst mode: exit 0 once every assigned partition is read to its end and committed",
)
def run(exit_when_drained: bool, **flags: Any) -> None:
    """Consume the raw topic in a consumer group and publish identity events until stopped.

    On SIGTERM or SIGINT: stop fetching, wait for in-flight outputs, commit, leave the group,
    exit 0. A second signal stops at once (outputs since the last commit are produced again by
    the next worker: at-least-once).
    """
    settings = settings_from(flags)
    try:
        registry = load_registry(settings.numbers)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    options = ServiceOptions(stop_when_drained=exit_when_drained)
    run_kafka(serve(settings, build_pipeline(settings, registry), options), settings)
