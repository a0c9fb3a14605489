"""Load the settings: defaults < TOML file < environment < flags, validated once at start.

Only this module reads the environment. A wrong setting raises `SettingsError` with one line
naming the setting, which the CLI prints before exiting.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import msgspec

from processor.core.phone import normalize_phone
from processor.core.registry import Registry
from schemas.registry import RegistryFile
from schemas.settings import SECRET_FIELDS, Settings

#: Environment variable of each setting; the names of CONTRACT 7 for Kafka, BSUID_* otherwise.
ENV_VARS: Final[dict[str, str]] = {
    name: (
        f"KAFKA_{name.upper()}"
        if name
        in {
            "bootstrap_servers",
            "security_protocol",
            "sasl_mechanism",
            "sasl_username",
            "sasl_password",
            "sasl_oauth_token_url",
            "sasl_oauth_client_id",
            "sasl_oauth_client_secret",
            "sasl_oauth_scope",
            "sasl_oauth_extensions",
            "ssl_cafile",
            "ssl_certfile",
            "ssl_keyfile",
        }
        else name.upper()
        if name in {"meta_app_secret", "connectly_webhook_secret"}
        else f"BSUID_{name.upper()}"
    )
    for name in Settings.__struct_fields__
}
CONFIG_ENV: Final = "BSUID_CONFIG"


class SettingsError(Exception):
    """A setting is missing or wrong: the message is the one line the operator sees."""


def _from_env(environ: Mapping[str, str]) -> dict[str, str]:
    return {name: environ[var] for name, var in ENV_VARS.items() if environ.get(var)}


def _from_toml(path: str) -> dict[str, Any]:
    try:
        data = msgspec.toml.decode(Path(path).read_bytes())
    except OSError as exc:
        raise SettingsError(f"setting config: cannot read {path}: {exc.strerror}") from None
    except msgspec.DecodeError as exc:
        raise SettingsError(f"setting config: {path} is not valid TOML: {exc}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"setting config: {path} must be a TOML table")
    return data


def _setting_name(error: str) -> str:
    match = re.search(r"`\$\.(\w+)`", error)
    if match:
        return match.group(1)
    match = re.search(r"unknown field `(\w+)`", error)
    return match.group(1) if match else "?"


def load_settings(
    flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Merge every source as plain values, then validate once with `msgspec.convert`."""
    environ = os.environ if environ is None else environ
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    config_path = flags.pop("config", None) or environ.get(CONFIG_ENV)
    merged: dict[str, Any] = _from_toml(config_path) if config_path else {}
    merged |= _from_env(environ)
    merged |= flags
    try:
        # str_values: environment values are strings ("8080", "false") and must convert too.
        settings = msgspec.convert(merged, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"setting {_setting_name(str(exc))}: {exc}") from None
    _check_consistency(settings)
    return settings


def _check_consistency(settings: Settings) -> None:
    if settings.sasl_mechanism and not settings.security_protocol.startswith("SASL"):
        raise SettingsError(
            "setting security_protocol: must be SASL_PLAINTEXT or SASL_SSL when "
            "sasl_mechanism is set"
        )
    if settings.sasl_mechanism == "OAUTHBEARER":
        _check_oauth(settings)
    elif settings.security_protocol.startswith("SASL") and not (
        settings.sasl_mechanism and settings.sasl_username and settings.sasl_password
    ):
        raise SettingsError(
            "setting sasl_mechanism: SASL needs sasl_mechanism, sasl_username and sasl_password"
            " (or OAUTHBEARER with sasl_oauth_token_url, sasl_oauth_client_id and"
            " sasl_oauth_client_secret)"
        )
    for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        path = getattr(settings, name)
        if path and not Path(path).is_file():
            raise SettingsError(f"setting {name}: no such file {path}")
    if settings.heartbeat_interval_ms * 3 > settings.session_timeout_ms:
        raise SettingsError(
            "setting heartbeat_interval_ms: must be at most a third of session_timeout_ms"
        )
    _check_clients(settings)


def _check_oauth(settings: Settings) -> None:
    for name in ("sasl_oauth_token_url", "sasl_oauth_client_id", "sasl_oauth_client_secret"):
        if not getattr(settings, name):
            raise SettingsError(f"setting {name}: needed when sasl_mechanism is OAUTHBEARER")
    url = urlsplit(settings.sasl_oauth_token_url)
    if url.scheme not in ("https", "http") or not url.hostname:
        raise SettingsError(
            "setting sasl_oauth_token_url: expected an http(s):// URL of the token endpoint"
        )
    oauth_extensions(settings.sasl_oauth_extensions)


def oauth_extensions(text: str) -> dict[str, str]:
    """`key=value,key=value` -> a dict (RFC 7628 3.1: keys are letters only)."""
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z]+", key) or key == "auth":
            raise SettingsError(
                f"setting sasl_oauth_extensions: {item!r}: expected key=value with a key of"
                " letters only (not 'auth'), pairs separated by commas"
            )
        pairs[key] = value
    return pairs


def _check_clients(settings: Settings) -> None:
    codec = settings.compression_type
    if codec in ("snappy", "lz4", "zstd") and importlib.util.find_spec("cramjam") is None:
        # aiokafka needs cramjam for these codecs (gzip is in the standard library).
        raise SettingsError(
            f"setting compression_type: {codec} needs the cramjam package"
            " (pip install cramjam), or use gzip or none"
        )
    if settings.fetch_max_wait_ms >= settings.request_timeout_ms:
        raise SettingsError(
            "setting fetch_max_wait_ms: must be below request_timeout_ms (a fetch the broker"
            " holds that long would time out)"
        )
    if settings.max_partition_fetch_bytes > settings.fetch_max_bytes:
        raise SettingsError("setting max_partition_fetch_bytes: must be at most fetch_max_bytes")


def masked(settings: Settings) -> dict[str, Any]:
    """The effective settings with secrets masked: for `config show`."""
    values: dict[str, Any] = msgspec.to_builtins(settings)
    for name in SECRET_FIELDS:
        if values.get(name):
            values[name] = "********"
    return values


def load_registry(path: str) -> Registry:
    """The number registry file; a malformed one stops the command naming entry and field."""
    if not path:
        return Registry()
    try:
        registry_file = msgspec.toml.decode(Path(path).read_bytes(), type=RegistryFile)
    except OSError as exc:
        raise SettingsError(f"setting numbers: cannot read {path}: {exc.strerror}") from None
    except msgspec.ValidationError as exc:
        where = re.sub(r"\$\.number\[(\d+)\]", lambda m: f"number #{int(m[1]) + 1}", str(exc))
        raise SettingsError(f"setting numbers: {path}: {where}") from None
    except msgspec.DecodeError as exc:
        raise SettingsError(f"setting numbers: {path} is not valid TOML: {exc}") from None
    for index, entry in enumerate(registry_file.number, start=1):
        if not entry.number and not entry.phone_number_id:
            raise SettingsError(
                f"setting numbers: {path}: number #{index} needs `number` or `phone_number_id`"
            )
        if entry.number and normalize_phone(entry.number) is None:
            raise SettingsError(
                f"setting numbers: {path}: number #{index} field `number`: "
                f"{entry.number!r} is not a phone number"
            )
        if not entry.scope or "/" in entry.scope:
            # Identity keys are `<scope>/<id>`: a "/" in a scope would blur where scopes end.
            raise SettingsError(
                f"setting numbers: {path}: number #{index} field `scope` must be non-empty "
                "and without '/'"
            )
    return Registry(registry_file.number)
