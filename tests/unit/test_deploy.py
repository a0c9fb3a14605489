"""The deployment files agree with the code: ports, probe paths, env var names, commands.

No Docker engine or cluster is needed: every file is parsed and checked against the settings,
the HTTP route table and the console script, so none of them can drift from the code.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from processor.cli.main import COMMANDS, cli
from processor.devkit.generate import demo_registry_toml
from processor.ops.http import HEALTH_PATH, METRICS_PATH, READY_PATH, ROUTES
from processor.settings import CONFIG_ENV, ENV_VARS, load_registry, load_settings
from schemas.settings import SECRET_FIELDS, Settings

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
SETTING_ENV = {*ENV_VARS.values(), CONFIG_ENV}
HTTP_PORT = Settings().http_port
NOW = 1_800_000_000


def yaml_documents(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def k8s(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        doc
        for path in sorted(K8S.glob("*.yaml"))
        for doc in yaml_documents(path)
        if doc.get("kind") == kind and (name is None or doc["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"{kind} {name or ''}: {len(found)} found"
    return found[0]


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    instructions = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            instructions.append((word.upper(), rest.strip()))
    return instructions


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile()
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


def checked_command(args: list[str]) -> None:
    """The first argument is a subcommand of the console script."""
    assert args[0] in set(COMMANDS), args


# -- every file parses -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", sorted(DEPLOY.rglob("*.y*ml")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_every_manifest_parses(path: Path) -> None:
    documents = yaml_documents(path)
    assert documents
    assert all(isinstance(doc, dict) for doc in documents)


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml_documents(K8S / "kustomization.yaml")[0]["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


# -- Dockerfile ------------------------------------------------------------------------------


def test_entrypoint_is_the_console_script() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    stage = dict(final_stage())
    assert json.loads(stage["ENTRYPOINT"]) == list(scripts)
    assert json.loads(stage["CMD"]) == ["run"]
    checked_command(["run"])


def test_image_exposes_the_default_http_port_and_runs_unprivileged() -> None:
    stage = final_stage()
    froms = [args for word, args in dockerfile() if word == "FROM"]
    assert len(froms) == 2
    assert froms[0].startswith("python:3.11-slim AS ")
    assert froms[1] == "python:3.11-slim"
    assert ("EXPOSE", str(HTTP_PORT)) in stage
    user = dict(stage)["USER"].split(":")[0]
    assert user.isdigit()
    assert int(user) != 0
    # The final image gets the built environment, not the sources or a compiler.
    assert any(word == "COPY" and args.startswith("--from=builder") for word, args in stage)
    assert not any(word == "COPY" and "--from" not in args for word, args in stage)
    assert not re.search(r"apt-get|gcc|build-essential", "\n".join(a for _, a in stage))


def test_dockerignore_lets_in_what_the_build_copies() -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    copied = {
        source.rstrip("/")
        for word, args in dockerfile()
        if word == "COPY" and "--from" not in args
        for source in args.split()[:-1]
    }
    assert copied == allowed
    assert all((ROOT / name).exists() for name in copied)


# -- docker compose --------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml_documents(DEPLOY / "docker-compose.yml")[0]
    return document["services"]


def processor_services() -> dict[str, dict[str, Any]]:
    services = {n: s for n, s in compose().items() if s["image"].startswith("bsuid-processor")}
    assert set(services) == {"topics", "worker", "producer"}
    return services


def test_compose_runs_apache_kafka_in_kraft_mode() -> None:
    kafka = compose()["kafka"]
    assert kafka["image"] == "apache/kafka:4.1.0"
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    bootstrap = processor_services()["worker"]["environment"]["KAFKA_BOOTSTRAP_SERVERS"]
    assert bootstrap in kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]


def test_compose_env_and_commands_are_the_processors() -> None:
    for name, service in processor_services().items():
        assert set(service["environment"]) <= SETTING_ENV, name
        checked_command(service["command"])
    assert processor_services()["topics"]["command"] == ["topics", "ensure"]
    generate = cli.get_command(click.Context(cli), "generate")
    if generate is not None:
        # Once the subcommand exists, the flags the producer service passes must be its own.
        flags = {opt for param in generate.params for opt in getattr(param, "opts", [])}
        assert {"--count", "--topic"} <= flags


def test_compose_worker_port_probe_and_registry() -> None:
    worker = processor_services()["worker"]
    port = int(worker["environment"].get("BSUID_HTTP_PORT", HTTP_PORT))
    assert port == HTTP_PORT
    assert [p.split(":")[-1] for p in worker["ports"]] == [str(HTTP_PORT)]
    probe = " ".join(worker["healthcheck"]["test"])
    assert f":{HTTP_PORT}{READY_PATH}'" in probe
    (volume,) = worker["volumes"]
    local, mounted, _mode = volume.split(":")
    assert mounted == worker["environment"]["BSUID_NUMBERS"]
    registry_file = DEPLOY / local
    assert load_registry(str(registry_file)).lookup("", "+15551230001", NOW) is not None
    # The generated traffic's numbers: otherwise the demo would dead-letter unknown numbers.
    assert registry_file.read_text() == demo_registry_toml()


# -- Kubernetes ------------------------------------------------------------------------------


def container() -> dict[str, Any]:
    deployment = k8s("Deployment")
    (worker,) = deployment["spec"]["template"]["spec"]["containers"]
    return worker  # type: ignore[no-any-return]


def container_env() -> dict[str, str]:
    """Every variable the container gets: env entries and whole ConfigMaps/Secrets."""
    env: dict[str, str] = {
        item["name"]: item.get("value", "") for item in container().get("env", [])
    }
    for source in container().get("envFrom", []):
        if "configMapRef" in source:
            env |= k8s("ConfigMap", source["configMapRef"]["name"])["data"]
        else:
            env |= k8s("Secret", source["secretRef"]["name"])["stringData"]
    return env


def test_k8s_env_names_are_settings_and_values_are_valid() -> None:
    env = container_env()
    assert set(env) <= SETTING_ENV
    # The shipped values load as settings (the SASL_SSL set needs its password from the Secret).
    settings = load_settings({}, environ=env)
    assert settings.http_port == HTTP_PORT
    assert settings.security_protocol == "SASL_SSL"


def test_k8s_secret_holds_exactly_the_secret_settings() -> None:
    secret = k8s("Secret", "bsuid-processor-secrets")
    assert set(secret["stringData"]) == {ENV_VARS[name] for name in SECRET_FIELDS}
    configmap_env = k8s("ConfigMap", "bsuid-processor-env")["data"]
    assert not set(configmap_env) & {ENV_VARS[name] for name in SECRET_FIELDS}


def test_k8s_ports_and_probes_are_the_http_routes() -> None:
    worker = container()
    (port,) = worker["ports"]
    assert port["containerPort"] == HTTP_PORT
    assert worker["livenessProbe"]["httpGet"] == {"path": HEALTH_PATH, "port": port["name"]}
    assert worker["readinessProbe"]["httpGet"] == {"path": READY_PATH, "port": port["name"]}
    annotations = k8s("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == METRICS_PATH
    assert annotations["prometheus.io/port"] == str(HTTP_PORT)
    assert {HEALTH_PATH, READY_PATH, METRICS_PATH} <= set(ROUTES)
    checked_command(worker["args"])


def test_k8s_resources_security_and_shutdown() -> None:
    worker = container()
    for kind in ("requests", "limits"):
        assert set(worker["resources"][kind]) == {"cpu", "memory"}
    pod = k8s("Deployment")["spec"]["template"]["spec"]
    uid = dict(final_stage())["USER"].split(":")[0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == uid
    # The drain must finish before the kubelet's SIGKILL.
    shutdown = float(container_env()["BSUID_SHUTDOWN_TIMEOUT_S"])
    assert pod["terminationGracePeriodSeconds"] > shutdown


def test_k8s_registry_is_mounted_where_the_setting_points(tmp_path: Path) -> None:
    numbers = Path(container_env()["BSUID_NUMBERS"])
    (mount,) = [m for m in container()["volumeMounts"] if m["name"] == "numbers"]
    assert Path(mount["mountPath"]) == numbers.parent
    volume = next(
        v
        for v in k8s("Deployment")["spec"]["template"]["spec"]["volumes"]
        if v["name"] == "numbers"
    )
    data = k8s("ConfigMap", volume["configMap"]["name"])["data"]
    path = tmp_path / numbers.name
    path.write_text(data[numbers.name])
    registry = load_registry(str(path))
    assert registry.lookup("200000000000001", "", NOW) is not None


def test_pdb_selects_the_workers() -> None:
    pdb = k8s("PodDisruptionBudget")
    pod_labels = k8s("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["spec"]["maxUnavailable"] == 1
