"""`bsuid-processor`: parse, configure logging once, run a subcommand, return an exit code."""

from __future__ import annotations

import click

from processor.cli.classify import classify
from processor.cli.demo import demo
from processor.cli.run import run
from processor.cli.topics import topics


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="bsuid-processor")
def cli() -> None:
    """WhatsApp customer-identity stream processor (phone, BSUID, per-number gate)."""


for command in (classify, run, topics, demo):
    cli.add_command(command)


def main() -> None:
    cli()
