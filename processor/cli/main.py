"""`bsuid-processor`: parse, configure logging once, run a subcommand, return an exit code.

Subcommands are imported when they run (click's lazy-loading pattern): `classify`, which never
touches Kafka, loads neither aiokafka nor the traffic generator.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from processor.settings import ENV_VARS

#: command name -> "module:attribute" of its click command, in `--help` order.
COMMANDS = {
    "classify": "processor.cli.classify:classify",
    "run": "processor.cli.run:run",
    "replay": "processor.cli.replay:replay_command",
    "dlq": "processor.cli.dlq:dlq",
    "links": "processor.cli.links:links",
    "topics": "processor.cli.topics:topics",
    "numbers": "processor.cli.numbers:numbers",
    "config": "processor.cli.config:config",
    "demo": "processor.cli.demo:demo",
    "generate": "processor.cli.generate:generate_command",
    "schema": "processor.cli.schema:schema",
}


class _FlagError(click.ClickException):
    exit_code = 2  # what click exits with for a bad flag value


class _Cli(click.Group):
    """Loads each subcommand on demand, and reports a wrong flag value the way the settings
    loader reports a wrong setting: one line naming it (click would print its usage block)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.BadParameter as exc:
            name = exc.param.name if exc.param is not None else None
            if name in ENV_VARS or name == "config":
                raise _FlagError(f"setting {name}: {exc.format_message()}") from None
            if exc.param is not None:
                # "Invalid value for '--max-attempts': ...": one line that names the option.
                raise _FlagError(exc.format_message()) from None
            raise


@click.group(
    cls=_Cli,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="bsuid-processor")
def cli() -> None:
    """WhatsApp customer-identity stream processor (phone, BSUID, per-number gate)."""


def main() -> None:
    cli()
