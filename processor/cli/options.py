"""Flags shared by subcommands, turned into `Settings` through `processor.settings`."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any, TypeVar

import click

from processor.core.registry import Registry
from processor.ops.log import configure_logging
from processor.settings import ENV_VARS, SettingsError, load_registry, load_settings
from schemas.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


Decorator = Callable[[Any], Any]


class OptionError(click.ClickException):
    """A wrong option value found in the command's body: one line, exit 2 (a usage error)."""

    exit_code = 2


def _flag(setting: str, help_text: str, **kwargs: Any) -> Decorator:
    """A flag named after its setting, whose help names the environment variable too."""
    env = ENV_VARS.get(setting, "BSUID_CONFIG")
    flag = "--" + setting.replace("_", "-")
    return click.option(flag, setting, help=f"{help_text} [env {env}]", **kwargs)


_KAFKA = [
    _flag("bootstrap_servers", "Kafka bootstrap servers"),
    _flag("group_id", "Consumer group"),
    _flag("raw_topic", "Input topic of raw webhooks"),
    _flag("identity_topic", "Identity output topic"),
    _flag("dropped_topic", "Dropped-audit output topic"),
    _flag("dlq_topic", "Dead-letter topic"),
    _flag("control_topic", "Enablement control topic"),
]
GUARANTEE = _flag(
    "guarantee", "Delivery guarantee", type=click.Choice(["at-least-once", "exactly-once"])
)
CREATE_TOPICS = click.option(
    "--create-topics/--no-create-topics",
    "create_topics",
    default=None,
    help=f"Create missing topics first [env {ENV_VARS['create_topics']}]",
)
PROCESSES = _flag(
    "processes", "Processes of the group on this machine (one per core helps)", type=int
)
HTTP_PORT = click.option(
    "--http-port",
    type=int,
    help="Port of /metrics, /healthz, /readyz; 0 turns it off [env BSUID_HTTP_PORT]",
)
REQUIRE_SIGNATURES = click.option(
    "--require-signatures/--no-require-signatures",
    "require_signatures",
    default=None,
    help="Refuse to start without a webhook signing secret [env BSUID_REQUIRE_SIGNATURES]",
)
SHUTDOWN_TIMEOUT = _flag("shutdown_timeout_s", "Longest drain on SIGTERM", type=float)
EXIT_WHEN_DRAINED = click.option(
    "--exit-when-drained",
    is_flag=True,
    help="Burst mode: exit 0 once every assigned partition is read to its end and committed",
)
_COMMON = [
    _flag("config", "TOML settings file", type=click.Path(dir_okay=False)),
    _flag("numbers", "Number registry TOML file", type=click.Path(dir_okay=False)),
    _flag("log_format", "Log format", type=click.Choice(["auto", "json", "console"])),
    _flag("log_level", "Log level", type=click.Choice(["debug", "info", "warning", "error"])),
]


def _apply(func: F, flags: list[Decorator]) -> F:
    for flag in reversed(flags):
        func = flag(func)
    return func


def common_options(func: F) -> F:
    return _apply(func, _COMMON)


def kafka_options(func: F) -> F:
    return _apply(func, _KAFKA + _COMMON)


class SettingError(click.ClickException):
    """A wrong setting (flag, environment, settings or registry file): a usage mistake."""

    exit_code = 2


def settings_from(flags: dict[str, Any]) -> Settings:
    """Settings from the command's flags; a wrong setting ends the process with one line."""
    try:
        settings = load_settings(flags)
    except SettingsError as exc:
        raise SettingError(str(exc)) from None
    configure_logging(settings.log_format, settings.log_level)
    return settings


def registry_from(settings: Settings) -> Registry:
    """The number registry the settings name; a wrong file ends the process with one line."""
    try:
        return load_registry(settings.numbers)
    except SettingsError as exc:
        raise SettingError(str(exc)) from None


def parse_time(text: str) -> datetime:
    """An ISO 8601 time with a zone (a naive time would mean different instants on hosts)."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-07-01T09:00:00Z)"
        ) from None
    if when.tzinfo is None:
        raise click.BadParameter(f"{text!r} needs a time zone (e.g. Z or +02:00)")
    return when


class IsoTime(click.ParamType[datetime]):
    """A flag holding an ISO 8601 time with a zone; a wrong value names the flag."""

    name = "ISO-TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        try:
            return parse_time(str(value))
        except click.BadParameter as exc:
            self.fail(exc.message, param, ctx)


def given_flags(ctx: click.Context, leave_out: frozenset[str]) -> list[str]:
    """The command's flags as given on its command line (not defaults, not environment), as
    arguments again: a child process with the same environment resolves the same settings."""
    args: list[str] = []
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if not isinstance(param, click.Option) or param.name in leave_out or value is None:
            continue
        if param.is_flag and param.secondary_opts:
            args.append(param.opts[0] if value else param.secondary_opts[0])
        elif param.is_flag:
            if value:
                args.append(param.opts[0])
        else:
            args += [param.opts[0], str(value)]
    return args


def run_kafka(job: Coroutine[Any, Any, T], settings: Settings, *, wait: bool = True) -> T:
    """Run a Kafka job; the failures an operator can fix end the process with one line.

    `wait`: start once the broker answers (stages wait themselves, behind their probes)."""
    from processor.wiring import JobError, run_job  # noqa: PLC0415 (only Kafka commands load it)

    try:
        return run_job(job, settings, wait=wait)
    except JobError as exc:
        raise click.ClickException(str(exc)) from None
