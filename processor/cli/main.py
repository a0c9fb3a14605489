"""`bsuid-processor`: parse, configure logging once, run a subcommand, return an exit code.

Subcommands are imported when they run (click's lazy-loading pattern): `classify`, which never
touches Kafka, loads neither aiokafka nor the traffic generator.

Every way a command can end is decided here, once: a usage mistake (a flag, a value) is one
line on stderr and exit 2; a runtime failure an operator can fix is one line and exit 1; a
closed stdout (`| head`) ends quietly with 0; anything unexpected is one line and exit 1, with
the traceback only under `--debug` (or `BSUID_LOG_LEVEL=debug`).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import traceback
from typing import NoReturn

import click

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
PROG = "bsuid-processor"


class _Cli(click.Group):
    """Loads each subcommand on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command


@click.group(
    cls=_Cli,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--debug",
    is_flag=True,
    help="Print the traceback of an unexpected error (also BSUID_LOG_LEVEL=debug)",
)
@click.version_option(package_name="bsuid-processor")
def cli(debug: bool) -> None:
    """WhatsApp customer-identity stream processor (phone, BSUID, per-number gate)."""
    if debug:
        os.environ["BSUID_DEBUG"] = "1"


def _fail(message: str, code: int) -> NoReturn:
    """One line on stderr, after whatever stdout already holds."""
    with contextlib.suppress(BrokenPipeError, ValueError):
        sys.stdout.flush()
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def _debugging() -> bool:
    return bool(os.environ.get("BSUID_DEBUG")) or os.environ.get("BSUID_LOG_LEVEL") == "debug"


def _usage(exc: click.UsageError) -> str:
    """The mistake and where help is, on one line (click would add the usage block)."""
    message = " ".join(exc.format_message().split()).rstrip(".")
    command = exc.ctx.command_path if exc.ctx is not None else PROG
    return f"{message} (see `{command} --help`)"


def _run(argv: list[str]) -> None:
    """What click's `main` does, without its handlers: a closed pipe must not exit 1."""
    with cli.make_context(PROG, argv) as ctx:
        cli.invoke(ctx)


def main(argv: list[str] | None = None) -> NoReturn:
    try:
        _run(sys.argv[1:] if argv is None else argv)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx is not None else "", err=True)
        sys.exit(2)
    except click.exceptions.Exit as exc:  # --help, --version
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        _fail(_usage(exc), 2)
    except click.ClickException as exc:
        _fail(" ".join(exc.format_message().split()), exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        _fail("interrupted", 130)
    except BrokenPipeError:
        # The reader of stdout went away (`| head`): what it wanted it has; end quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        _fail(f"{where}{exc.strerror or exc}", 1)
    except Exception as exc:
        if _debugging():
            traceback.print_exc()
        _fail(f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)", 1)
    sys.exit(0)
