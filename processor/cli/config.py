"""`bsuid-processor config show`: the effective settings, as `run` would see them.

It takes the same setting flags as `run` (copied from it, so the two cannot drift): prefix a
`run` command line with `config show` to see what that worker would use, secrets masked.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import click
import msgspec

from processor.cli.options import settings_from
from processor.cli.run import run
from processor.settings import ENV_VARS, SIGNING_SECRETS, masked


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # A JSON string is a valid TOML basic string (same escapes, \uXXXX for controls).
        return msgspec.json.encode(value).decode()
    raise TypeError(f"no TOML form for {type(value).__name__}")


def to_toml(values: Mapping[str, Any]) -> str:
    """Flat TOML, one `name = value  # ENV_VAR` line per setting (msgspec needs tomli_w)."""
    lines = ["# Effective settings: flags > environment > TOML file > defaults. Secrets masked."]
    for name, value in values.items():
        line = f"{name} = {_toml_value(value)}  # {ENV_VARS[name]}"
        # An unset secret stays unset when this file is read back (set but empty is an error).
        lines.append(f"# {line} (not set)" if name in SIGNING_SECRETS and value == "" else line)
    return "\n".join(lines) + "\n"


def to_json(values: Mapping[str, Any]) -> str:
    return msgspec.json.format(msgspec.json.encode(values), indent=2).decode()


@click.group()
def config() -> None:
    """Inspect the processor's settings."""


@config.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["toml", "json"]),
    default="toml",
    show_default=True,
    help="Output format",
)
def show(fmt: str, **flags: Any) -> None:
    """Print the effective settings (flags > env > TOML file > defaults), secrets masked.

    Accepts every setting flag of `run`. A wrong setting stops with one line naming it.
    """
    values = masked(settings_from(flags))
    click.echo(to_toml(values) if fmt == "toml" else to_json(values), nl=fmt == "json")


show.params.extend(
    copy.copy(param) for param in run.params if param.name in ENV_VARS or param.name == "config"
)
