"""The deployment files agree with the code: ports, probe paths, env var names, commands.

No Docker engine or cluster is needed: every file is parsed and checked against the settings,
the HTTP route table and the console script, so none of them can drift from the code.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
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


def k8s(kind: str, name: str | None = None, folder: Path = K8S) -> dict[str, Any]:
    found = [
        doc
        for path in sorted(folder.glob("*.yaml"))
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


def kustomization(folder: Path = K8S) -> dict[str, Any]:
    document: dict[str, Any] = yaml_documents(folder / "kustomization.yaml")[0]
    return document


def test_kustomization_lists_every_manifest() -> None:
    listed = set(kustomization()["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    for generator in kustomization()["configMapGenerator"]:
        for source in [*generator.get("envs", []), *generator.get("files", [])]:
            assert (K8S / source).is_file(), source
    monitoring = K8S / "monitoring"
    listed = set(kustomization(monitoring)["resources"])
    assert listed == {p.name for p in monitoring.glob("*.yaml")} - {"kustomization.yaml"}


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
    assert set(services) == {"topics", "worker", "links", "producer"}
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
    assert processor_services()["links"]["command"] == ["links", "run"]
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

WORKER, LINKS = "bsuid-processor", "bsuid-processor-links"


def configmap_data(name: str) -> dict[str, str]:
    """A ConfigMap that kustomize generates (with a content hash in its name) from files."""
    (generator,) = [g for g in kustomization()["configMapGenerator"] if g["name"] == name]
    data: dict[str, str] = {}
    for env_file in generator.get("envs", []):
        for line in (K8S / env_file).read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                key, _, value = line.partition("=")
                data[key.strip()] = value
    for file in generator.get("files", []):
        data[Path(file).name] = (K8S / file).read_text()
    return data


def pod_spec(kind: str, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = k8s(kind, name)["spec"]["template"]["spec"]
    return spec


def container(name: str = WORKER, kind: str = "Deployment") -> dict[str, Any]:
    (only,) = pod_spec(kind, name)["containers"]
    return only  # type: ignore[no-any-return]


def container_env(name: str = WORKER, kind: str = "Deployment") -> dict[str, str]:
    """Every variable the container gets: env entries and whole ConfigMaps/Secrets."""
    env: dict[str, str] = {
        item["name"]: item.get("value", "") for item in container(name, kind).get("env", [])
    }
    for source in container(name, kind).get("envFrom", []):
        if "configMapRef" in source:
            env |= configmap_data(source["configMapRef"]["name"])
        else:
            env |= k8s("Secret", source["secretRef"]["name"])["stringData"]
    return env


WORKLOADS = [("Deployment", WORKER), ("Deployment", LINKS), ("Job", "bsuid-processor-topics")]


@pytest.mark.parametrize(("kind", "name"), WORKLOADS)
def test_k8s_env_names_are_settings_and_values_are_valid(kind: str, name: str) -> None:
    env = container_env(name, kind)
    assert set(env) <= SETTING_ENV
    # The shipped values load as settings (the SASL_SSL set needs its password from the Secret).
    settings = load_settings({}, environ=env)
    assert settings.http_port == HTTP_PORT
    assert settings.security_protocol == "SASL_SSL"


def test_k8s_secret_holds_exactly_the_secret_settings() -> None:
    secret = k8s("Secret", "bsuid-processor-secrets")
    assert set(secret["stringData"]) == {ENV_VARS[name] for name in SECRET_FIELDS}
    configmap_env = configmap_data("bsuid-processor-env")
    assert not set(configmap_env) & {ENV_VARS[name] for name in SECRET_FIELDS}


@pytest.mark.parametrize("name", [WORKER, LINKS])
def test_k8s_ports_and_probes_are_the_http_routes(name: str) -> None:
    stage = container(name)
    (port,) = stage["ports"]
    assert port["containerPort"] == HTTP_PORT
    assert stage["livenessProbe"]["httpGet"] == {"path": HEALTH_PATH, "port": port["name"]}
    assert stage["readinessProbe"]["httpGet"] == {"path": READY_PATH, "port": port["name"]}
    annotations = k8s("Deployment", name)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == METRICS_PATH
    assert annotations["prometheus.io/port"] == str(HTTP_PORT)
    assert {HEALTH_PATH, READY_PATH, METRICS_PATH} <= set(ROUTES)
    checked_command(stage["args"])


def test_the_stages_run_their_commands() -> None:
    assert container(WORKER)["args"] == ["run"]
    assert container(LINKS)["args"] == ["links", "run"]
    job = container("bsuid-processor-topics", "Job")
    assert job["args"] == ["topics", "ensure"]
    links = cli.get_command(click.Context(cli), "links")
    assert isinstance(links, click.Group)
    assert "run" in links.commands
    topics = cli.get_command(click.Context(cli), "topics")
    assert isinstance(topics, click.Group)
    assert "ensure" in topics.commands
    assert k8s("Job")["spec"]["template"]["spec"]["restartPolicy"] in {"OnFailure", "Never"}
    # Deleted once finished, so that the next apply (with new settings) can create it again.
    assert k8s("Job")["spec"]["ttlSecondsAfterFinished"] > 0


@pytest.mark.parametrize(("kind", "name"), WORKLOADS)
def test_k8s_resources_security_and_shutdown(kind: str, name: str) -> None:
    stage = container(name, kind)
    for limit in ("requests", "limits"):
        assert set(stage["resources"][limit]) == {"cpu", "memory"}
    pod = pod_spec(kind, name)
    uid = dict(final_stage())["USER"].split(":")[0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == uid
    assert stage["securityContext"]["readOnlyRootFilesystem"] is True
    if kind == "Deployment":
        # The drain must finish before the kubelet's SIGKILL.
        shutdown = float(container_env(name)["BSUID_SHUTDOWN_TIMEOUT_S"])
        assert pod["terminationGracePeriodSeconds"] > shutdown


def test_k8s_registry_is_mounted_where_the_setting_points(tmp_path: Path) -> None:
    numbers = Path(container_env()["BSUID_NUMBERS"])
    (mount,) = [m for m in container()["volumeMounts"] if m["name"] == "numbers"]
    assert Path(mount["mountPath"]) == numbers.parent
    volume = next(v for v in pod_spec("Deployment", WORKER)["volumes"] if v["name"] == "numbers")
    data = configmap_data(volume["configMap"]["name"])
    path = tmp_path / numbers.name
    path.write_text(data[numbers.name])
    registry = load_registry(str(path))
    assert registry.lookup("200000000000001", "", NOW) is not None


def pod_labels(name: str) -> dict[str, str]:
    labels: dict[str, str] = k8s("Deployment", name)["spec"]["template"]["metadata"]["labels"]
    return labels


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def test_each_deployment_selects_its_own_pods_only() -> None:
    for name, other in ((WORKER, LINKS), (LINKS, WORKER)):
        selector = k8s("Deployment", name)["spec"]["selector"]["matchLabels"]
        assert selects(selector, pod_labels(name))
        assert not selects(selector, pod_labels(other)), (name, other)


@pytest.mark.parametrize("name", [WORKER, LINKS])
def test_each_stage_has_a_disruption_budget_and_a_metrics_service(name: str) -> None:
    pdb = k8s("PodDisruptionBudget", name)
    assert selects(pdb["spec"]["selector"]["matchLabels"], pod_labels(name))
    assert pdb["spec"]["maxUnavailable"] == 1
    service = k8s("Service", name)
    assert selects(service["spec"]["selector"], pod_labels(name))
    other = LINKS if name == WORKER else WORKER
    assert not selects(service["spec"]["selector"], pod_labels(other))
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == container(name)["ports"][0]["name"]


def test_the_service_monitor_scrapes_both_stages_metrics() -> None:
    monitor = k8s("ServiceMonitor", folder=K8S / "monitoring")
    for name in (WORKER, LINKS):
        service = k8s("Service", name)
        labels = {**service["metadata"]["labels"], **kustomization()["labels"][0]["pairs"]}
        assert selects(monitor["spec"]["selector"]["matchLabels"], labels), name
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["port"] == service["spec"]["ports"][0]["name"]
        assert endpoint["path"] == METRICS_PATH


def test_every_configmap_a_workload_uses_is_generated_so_changes_roll_the_pods() -> None:
    generated = {g["name"] for g in kustomization()["configMapGenerator"]}
    assert "resources" in kustomization()
    assert not any(path.name == "configmap.yaml" for path in K8S.glob("*.yaml"))
    for kind, name in WORKLOADS:
        refs = {
            s["configMapRef"]["name"]
            for s in container(name, kind)["envFrom"]
            if "configMapRef" in s
        } | {
            v["configMap"]["name"]
            for v in pod_spec(kind, name).get("volumes", [])
            if "configMap" in v
        }
        assert refs, name
        assert refs <= generated, (name, refs - generated)


def kustomize(folder: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the rendered manifests are not checked")
    done = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, check=True
    )
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def test_kustomize_renders_hashed_configmaps_and_a_settings_change_renames_them(
    tmp_path: Path,
) -> None:
    """The rollout on a config change, as kustomize renders it (needs kubectl)."""

    def env_refs(documents: list[dict[str, Any]]) -> dict[str, set[str]]:
        names = {d["metadata"]["name"] for d in documents if d["kind"] == "ConfigMap"}
        refs: dict[str, set[str]] = {}
        for doc in documents:
            if doc["kind"] in {"Deployment", "Job"}:
                (c,) = doc["spec"]["template"]["spec"]["containers"]
                refs[doc["metadata"]["name"]] = {
                    s["configMapRef"]["name"] for s in c["envFrom"] if "configMapRef" in s
                }
                assert refs[doc["metadata"]["name"]] <= names
        return refs

    before = env_refs(kustomize(K8S))
    assert set(before) == {WORKER, LINKS, "bsuid-processor-topics"}
    for names in before.values():
        (name,) = names
        assert name.startswith("bsuid-processor-env-")
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    settings_env = copy / "settings.env"
    settings_env.write_text(
        settings_env.read_text().replace("BSUID_LOG_LEVEL=info", "BSUID_LOG_LEVEL=debug")
    )
    assert "BSUID_LOG_LEVEL=debug" in settings_env.read_text()
    after = env_refs(kustomize(copy))
    assert before[WORKER] != after[WORKER]
    assert before[LINKS] != after[LINKS]
    rendered = kustomize(K8S / "monitoring")
    assert {d["kind"] for d in rendered} == {"ServiceMonitor", "PrometheusRule", "ConfigMap"}


def test_keda_scaled_object_is_optional_and_scales_the_worker() -> None:
    keda = K8S / "keda"
    (scaled,) = yaml_documents(keda / "scaledobject.yaml")
    assert scaled["kind"] == "ScaledObject"
    assert scaled["spec"]["scaleTargetRef"]["name"] == WORKER
    assert not (keda / "kustomization.yaml").exists()
    # At most one replica per partition of the raw topic helps.
    assert scaled["spec"]["maxReplicaCount"] <= Settings().topic_partitions
