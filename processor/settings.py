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
from typing import Any, Final, Literal, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

import msgspec

from processor.core.phone import normalize_phone
from processor.core.pipeline import Pipeline
from processor.core.registry import Registry
from processor.core.signature import SigningSecrets
from schemas.registry import NumberEntry, RegistryFile
from schemas.settings import SECRET_FIELDS, Settings

#: Environment variable of each setting; the usual KAFKA_* names for Kafka, BSUID_* otherwise.
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
        if name in {"meta_app_secret", "connectly_webhook_secret", "vonage_signature_secret"}
        else f"BSUID_{name.upper()}"
    )
    for name in Settings.__struct_fields__
}
CONFIG_ENV: Final = "BSUID_CONFIG"


class SettingsError(Exception):
    """A setting is missing or wrong: the message is the one line the operator sees."""


def _from_env(environ: Mapping[str, str]) -> dict[str, str]:
    # An empty variable is unset, except for a secret: an empty secret is a mistake to name
    # (a Kubernetes Secret with an empty key), not a quiet "verify nothing".
    return {
        name: environ[var]
        for name, var in ENV_VARS.items()
        if environ.get(var) or (var in environ and name in SECRET_FIELDS)
    }


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


def _invalid(
    error: msgspec.ValidationError, merged: dict[str, Any], sources: Mapping[str, str]
) -> str:
    """One line: the setting, what was expected, what was given and where it came from."""
    text = str(error)
    name = _setting_name(text)
    source = sources.get(name, "the settings")
    if "unknown field" in text:
        return f"setting {name}: not a setting (in {source}; `config show` lists them all)"
    allowed = _choices(name)
    if allowed:
        expected = "expected one of " + ", ".join(allowed)
    else:
        expected = re.sub(r" - at `\$\.\w+`$|, got `\w+`", "", text).replace("`", "")
        expected = expected[:1].lower() + expected[1:]
    given = f"; got {merged[name]!r} from {source}" if name in merged else ""
    return f"setting {name}: {expected}{given}"


def _choices(name: str) -> tuple[str, ...]:
    """The values a Literal-typed setting takes (none for other settings)."""
    hint = get_type_hints(Settings).get(name)
    return tuple(str(v) for v in get_args(hint)) if get_origin(hint) is Literal else ()


def load_settings(
    flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Merge every source as plain values, then validate once with `msgspec.convert`."""
    environ = os.environ if environ is None else environ
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    config_path = flags.pop("config", None) or environ.get(CONFIG_ENV)
    merged: dict[str, Any] = _from_toml(config_path) if config_path else {}
    sources = dict.fromkeys(merged, f"{config_path}")
    sources["config"] = f"{config_path}"
    env = _from_env(environ)
    sources |= {name: ENV_VARS[name] for name in env}
    sources |= {name: "--" + name.replace("_", "-") for name in flags}
    merged |= env | flags
    try:
        # str_values: environment values are strings ("8080", "false") and must convert too.
        settings = msgspec.convert(merged, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(_invalid(exc, merged, sources)) from None
    _check_consistency(settings)
    _check_signatures(settings, {name for name in SIGNING_SECRETS if merged.get(name) == ""})
    return settings


#: The webhook signing secrets, by setting name.
SIGNING_SECRETS: Final = ("meta_app_secret", "connectly_webhook_secret", "vonage_signature_secret")


def _check_signatures(settings: Settings, empty: set[str]) -> None:
    """An empty secret set on purpose is an error unless verification is off; requiring
    signatures without any secret is one too."""
    if not settings.verify_signatures:
        if settings.require_signatures:
            raise SettingsError(
                "setting require_signatures: cannot require signatures with verify_signatures off"
            )
        return
    for name in sorted(empty):
        raise SettingsError(
            f"setting {name}: set but empty ({ENV_VARS[name]}); give the secret, unset it to"
            " leave that source unverified, or set verify_signatures = false"
        )
    if settings.require_signatures and not any(getattr(settings, n) for n in SIGNING_SECRETS):
        raise SettingsError(
            "setting require_signatures: no signing secret is set "
            f"({' or '.join(ENV_VARS[n] for n in SIGNING_SECRETS)})"
        )


def build_pipeline(settings: Settings, registry: Registry) -> Pipeline:
    """The pure pipeline as the settings configure it: the same for every entry point."""
    return Pipeline(
        registry=registry,
        secrets=SigningSecrets.of(settings),
        include_standby=settings.include_standby,
    )


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
    """The number registry file; a wrong one stops the command with one line naming the
    entry and the field (`numbers validate` lists every problem)."""
    if not path:
        return Registry()
    entries, problems = check_registry(path)
    if problems:
        more = f" (and {len(problems) - 1} more: see `numbers validate`)" if problems[1:] else ""
        raise SettingsError(f"setting numbers: {problems[0]}{more}")
    return Registry(entries)


def check_registry(path: str) -> tuple[list[NumberEntry], list[str]]:
    """The entries of a registry file and every problem found in it, one line each."""
    try:
        registry_file = msgspec.toml.decode(Path(path).read_bytes(), type=RegistryFile)
    except OSError as exc:
        return [], [f"cannot read {path}: {exc.strerror}"]
    except msgspec.ValidationError as exc:
        where = re.sub(r"\$\.number\[(\d+)\]", lambda m: f"number #{int(m[1]) + 1}", str(exc))
        return [], [f"{path}: {where}"]
    except msgspec.DecodeError as exc:
        return [], [f"{path} is not valid TOML: {exc}"]
    entries = registry_file.number
    if not entries:
        return [], [f"{path} lists no numbers (expected [[number]] tables)"]
    problems: list[str] = []
    seen_numbers: dict[str, int] = {}
    seen_ids: dict[str, int] = {}
    for index, entry in enumerate(entries, start=1):
        where = f"{path}: number #{index}"
        if not entry.number and not entry.phone_number_id:
            problems.append(f"{where} needs `number` or `phone_number_id`")
        phone = normalize_phone(entry.number) if entry.number else None
        if entry.number and phone is None:
            problems.append(f"{where} field `number`: {entry.number!r} is not a phone number")
        if not entry.scope or "/" in entry.scope:
            # Identity keys are `<scope>/<id>`: a "/" in a scope would blur where scopes end.
            problems.append(f"{where} field `scope` must be non-empty and without '/'")
        if phone is not None:
            first = seen_numbers.setdefault(phone.e164, index)
            if first != index:
                problems.append(f"{where} repeats {phone.e164} of number #{first}")
        if entry.phone_number_id:
            first = seen_ids.setdefault(entry.phone_number_id, index)
            if first != index:
                problems.append(
                    f"{where} field `phone_number_id`: {entry.phone_number_id} is already "
                    f"number #{first}'s (one id names one number)"
                )
    return entries, problems
