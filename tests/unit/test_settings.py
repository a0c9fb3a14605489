"""Settings: precedence (flags > env > TOML > defaults), one-line errors, `config show`, secrets."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from processor.cli.config import to_toml
from processor.settings import CONFIG_ENV, ENV_VARS, SIGNING_SECRETS, load_settings, masked
from schemas.settings import SECRET_FIELDS, Settings

SECRETS = {
    "KAFKA_SASL_PASSWORD": "pw-Zq81-sasl",
    "KAFKA_SASL_OAUTH_CLIENT_SECRET": "oauth-5e1d-secret",
    "META_APP_SECRET": "meta-7f3c-secret",
    "CONNECTLY_WEBHOOK_SECRET": "cly-90ab-secret",
    "VONAGE_SIGNATURE_SECRET": "vng-5d21-secret",
}
SASL = {
    "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "KAFKA_SASL_USERNAME": "svc-bsuid",
}


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any setting of the processor, plus `extra`."""
    ours = {*ENV_VARS.values(), CONFIG_ENV}
    env = {name: value for name, value in os.environ.items() if name not in ours}
    return env | extra


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "processor", *args],
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# -- precedence ------------------------------------------------------------------------------


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text('group_id = "from-toml"\nraw_topic = "raw.toml"\nhttp_port = 9001\n')
    return path


def test_defaults_without_any_source() -> None:
    assert load_settings({}, environ={}) == Settings()


def test_toml_beats_defaults(config_file: Path) -> None:
    settings = load_settings({"config": str(config_file)}, environ={})
    assert (settings.group_id, settings.raw_topic, settings.http_port) == (
        "from-toml",
        "raw.toml",
        9001,
    )
    assert settings.dlq_topic == Settings().dlq_topic


def test_env_beats_toml(config_file: Path) -> None:
    environ = {
        CONFIG_ENV: str(config_file),
        "BSUID_GROUP_ID": "from-env",
        "BSUID_HTTP_PORT": "9002",
    }
    settings = load_settings({}, environ=environ)
    assert (settings.group_id, settings.raw_topic, settings.http_port) == (
        "from-env",
        "raw.toml",
        9002,
    )


def test_flags_beat_env(config_file: Path) -> None:
    environ = {"BSUID_GROUP_ID": "from-env", "BSUID_HTTP_PORT": "9002"}
    flags = {"config": str(config_file), "group_id": "from-flag", "http_port": None}
    settings = load_settings(flags, environ=environ)
    # A flag left unset (None) does not hide the environment.
    assert (settings.group_id, settings.raw_topic, settings.http_port) == (
        "from-flag",
        "raw.toml",
        9002,
    )


def test_config_flag_beats_config_env(config_file: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text('group_id = "from-env-file"\n')
    settings = load_settings({"config": str(config_file)}, environ={CONFIG_ENV: str(other)})
    assert settings.group_id == "from-toml"


def test_every_setting_has_a_distinct_env_var() -> None:
    assert set(ENV_VARS) == set(Settings.__struct_fields__)
    assert len(set(ENV_VARS.values())) == len(ENV_VARS)
    assert ENV_VARS["http_host"] == "BSUID_HTTP_HOST"
    # Webhook secrets keep the provider's own names, like the usual KAFKA_* variables.
    assert ENV_VARS["meta_app_secret"] == "META_APP_SECRET"
    assert ENV_VARS["vonage_signature_secret"] == "VONAGE_SIGNATURE_SECRET"
    env = {"VONAGE_SIGNATURE_SECRET": "v-secret"}
    assert load_settings({}, environ=env).vonage_signature_secret == "v-secret"


# -- bad values: one line naming the setting -------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "setting"),
    [
        (["run", "--http-port", "abc"], {}, "http_port"),
        (["run", "--http-port", "70000"], {}, "http_port"),
        (["run", "--shutdown-timeout-s", "soon"], {}, "shutdown_timeout_s"),
        (["run", "--log-level", "loud"], {}, "log_level"),
        (["run"], {"BSUID_HTTP_PORT": "abc"}, "http_port"),
        (["run"], {"BSUID_MAX_BATCH_RECORDS": "0"}, "max_batch_records"),
        (["run", "--processes", "0"], {}, "processes"),
        (["run"], {"BSUID_PROCESSES": "many"}, "processes"),
        (["run"], {"KAFKA_SECURITY_PROTOCOL": "TLS"}, "security_protocol"),
        (["run"], {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "sasl_mechanism"),
        (["run"], {"KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"}, "ssl_cafile"),
        (["config", "show", "--http-port", "-1"], {}, "http_port"),
        (["run"], {"BSUID_COMPRESSION_TYPE": "brotli"}, "compression_type"),
        (["run"], {"BSUID_LINGER_MS": "-1"}, "linger_ms"),
        (["run"], {"BSUID_FETCH_MAX_WAIT_MS": "60000"}, "fetch_max_wait_ms"),
        (
            ["run"],
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "OAUTHBEARER"},
            "sasl_oauth_token_url",
        ),
    ],
)
def test_bad_value_fails_with_one_line_naming_it(
    args: list[str], env: dict[str, str], setting: str
) -> None:
    result = cli(*args, env=clean_env(**env))
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    # Named as the setting (from the environment or a file) or as the flag given.
    flag = "--" + setting.replace("_", "-")
    assert f"setting {setting}:" in lines[0] or f"'{flag}'" in lines[0], lines[0]
    assert result.returncode == 2  # a usage mistake
    assert result.stdout == ""


def test_misspelt_toml_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("http_prot = 8080\n")
    result = cli("config", "show", "--config", str(path))
    assert result.returncode != 0
    (line,) = result.stderr.strip().splitlines()
    assert "http_prot" in line


# -- config show -----------------------------------------------------------------------------


def test_config_show_masks_every_secret_in_both_formats() -> None:
    env = clean_env(**SASL, **SECRETS)
    for fmt in ("toml", "json"):
        result = cli("config", "show", "--format", fmt, env=env)
        assert result.returncode == 0, result.stderr
        for secret in SECRETS.values():
            assert secret not in result.stdout + result.stderr
        shown = tomllib.loads(result.stdout) if fmt == "toml" else json.loads(result.stdout)
        assert {name: shown[name] for name in SECRET_FIELDS} == dict.fromkeys(
            SECRET_FIELDS, "********"
        )
        # Not secret, so shown as is.
        assert shown["sasl_username"] == "svc-bsuid"
        assert shown["security_protocol"] == "SASL_SSL"


def test_config_show_prints_the_effective_settings(config_file: Path) -> None:
    env = clean_env(
        BSUID_GROUP_ID="from-env", BSUID_HTTP_PORT="9002", BSUID_CONFIG=str(config_file)
    )
    result = cli("config", "show", "--http-port", "9100", env=env)
    assert result.returncode == 0, result.stderr
    shown = tomllib.loads(result.stdout)
    expected = masked(
        load_settings(
            {"http_port": 9100}, environ={k: v for k, v in env.items() if k.startswith("BSUID")}
        )
    )
    unset = {name for name in SIGNING_SECRETS if expected[name] == ""}
    assert shown == {k: v for k, v in expected.items() if k not in unset}
    assert all(f"# {name} = " in result.stdout for name in unset)  # shown, commented out
    assert (shown["group_id"], shown["raw_topic"], shown["http_port"]) == (
        "from-env",
        "raw.toml",
        9100,
    )


def test_toml_output_names_each_env_var_and_round_trips(tmp_path: Path) -> None:
    settings = load_settings({"group_id": 'quote " and \\ back', "http_port": 0}, environ={})
    text = to_toml(masked(settings))
    assert 'group_id = "quote \\" and \\\\ back"  # BSUID_GROUP_ID' in text
    path = tmp_path / "shown.toml"
    path.write_text(text)
    assert load_settings({"config": str(path)}, environ={}) == settings


# -- secrets never reach the logs ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_run_never_logs_a_secret() -> None:
    """Debug logging, every secret set, and a broker that is not there: the worker logs its
    start and the failure, and no secret value appears anywhere in its output."""
    env = clean_env(
        **SECRETS,
        KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
        KAFKA_SASL_MECHANISM="PLAIN",
        KAFKA_SASL_USERNAME="svc-bsuid",
        KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
        BSUID_LOG_LEVEL="debug",
        BSUID_LOG_FORMAT="json",
        BSUID_HTTP_PORT="0",
        BSUID_CONNECT_TIMEOUT_S="2",
    )
    result = cli("run", env=env)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "stage starting" in output
    for secret in SECRETS.values():
        assert secret not in output
