"""`bsuid-processor`: parse, configure logging once, run a subcommand, return an exit code."""

from __future__ import annotations

from typing import Any

import click

from processor.cli.classify import classify
from processor.cli.config import config
from processor.cli.demo import demo
from processor.cli.generate import generate_command
from processor.cli.links import links
from processor.cli.numbers import numbers
from processor.cli.replay import replay_command
from processor.cli.run import run
from processor.cli.topics import topics
from processor.settings import ENV_VARS


class _FlagError(click.ClickException):
    exit_code = 2  # what click exits with for a bad flag value


class _Cli(click.Group):
    """Reports a wrong flag value the way the settings loader reports a wrong setting: one
    line naming it (click would print its usage block around the message)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.BadParameter as exc:
            name = exc.param.name if exc.param is not None else None
            if name not in ENV_VARS and name != "config":
                raise
            raise _FlagError(f"setting {name}: {exc.format_message()}") from None


@click.group(
    cls=_Cli,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="bsuid-processor")
def cli() -> None:
    """WhatsApp customer-identity stream processor (phone, BSUID, per-number gate)."""


for command in (generate_command, classify, run, topics, demo, config, numbers):
    cli.add_command(command)
cli.add_command(replay_command, name="replay")
cli.add_command(links)


def main() -> None:
    cli()
