"""A real Apache Kafka (KRaft) broker or cluster as plain JVM processes, for tests and benches.

The jars come from Maven Central (kafka_pom.xml), so nothing but `java` 17+ and `mvn` is needed:
no Docker, no Kafka tarball. Readiness and leadership are read with a few raw Kafka protocol
requests on a blocking socket, so every method here works from sync and async code alike.
"""

from __future__ import annotations

import atexit
import base64
import fcntl
import hashlib
import logging
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from processor.devkit.brokers.base import APACHE_KAFKA_CAPABILITIES, Capability, RunningBroker
from processor.devkit.brokers.probe import (
    ClusterMetadata,
    free_port,
    probe_metadata,
    quorum_leader,
    wait_for,
)

log = logging.getLogger(__name__)

KAFKA_VERSION = "4.4.0"
STOP_GRACE_S = 10.0
_LIVE: set[ApacheKafkaCluster] = set()  # stopped at interpreter exit so no JVM outlives us


def java_and_maven_available() -> bool:
    """True when `java` 17+ (Kafka 4's minimum) and `mvn` are on PATH."""
    if shutil.which("java") is None or shutil.which("mvn") is None:
        return False
    try:
        out = subprocess.run(
            ["java", "-version"], check=False, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return False
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if match is None:
        return False
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0" style versions
        major = int(match.group(2))
    return major >= 17


def kafka_cache_dir(version: str = KAFKA_VERSION) -> Path:
    """Where the jars live: $BSUID_KAFKA_CACHE (default ~/.cache/bsuid-processor)/kafka-<v>."""
    root = os.environ.get("BSUID_KAFKA_CACHE") or Path.home() / ".cache" / "bsuid-processor"
    return Path(root) / f"kafka-{version}"


def ensure_kafka_jars(version: str = KAFKA_VERSION) -> Path:
    """Resolve the broker's jars once (about 45 MB) and return the lib folder."""
    cache = kafka_cache_dir(version)
    cache.mkdir(parents=True, exist_ok=True)
    lib, marker = cache / "lib", cache / "COMPLETE"
    pom_xml = resources.files("processor.devkit.brokers").joinpath("kafka_pom.xml").read_bytes()
    digest = f"{version} {hashlib.sha256(pom_xml).hexdigest()}"  # an edited pom fetches anew
    # A lock, because parallel test processes may all want the jars on a fresh machine.
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists() and marker.read_text() == digest:
            return lib
        pom = cache / "pom.xml"
        pom.write_bytes(pom_xml)
        shutil.rmtree(lib, ignore_errors=True)  # a half-copied folder from an interrupted run
        started = time.monotonic()
        cmd = ["mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies"]
        # -Dkafka.version overrides the pom's pin, so the jars always match the cache folder.
        cmd += [f"-DoutputDirectory={lib}", f"-Dkafka.version={version}"]
        done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(
                f"mvn could not fetch Kafka {version}:\n{(done.stdout + done.stderr)[-3000:]}"
            )
        marker.write_text(digest)
        log.info(
            "fetched Kafka %s jars in %.1f s into %s", version, time.monotonic() - started, lib
        )
        return lib


# --- the cluster ---


_LOG4J2 = """status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {path}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


@dataclass
class KafkaNode:
    node_id: int
    broker_port: int
    controller_port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.broker_port}"


@dataclass(eq=False)
class ApacheKafkaCluster:
    """1 or 3 combined broker+controller nodes on loopback; kill/restart for failover tests."""

    nodes: dict[int, KafkaNode]
    workdir: Path
    lib: Path
    heap_mb: int = 512
    keep_logs: bool = False
    startup_s: float = 0.0
    version: str = KAFKA_VERSION

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.address for node in self.nodes.values())

    @property
    def log_path(self) -> str:
        return str(self.workdir)

    def live_nodes(self) -> list[KafkaNode]:
        return [n for n in self.nodes.values() if n.process and n.process.poll() is None]

    def metadata(self) -> ClusterMetadata:
        """Metadata from the first node that answers (some may be killed)."""
        for node in self.live_nodes():
            try:
                return probe_metadata(node.address)
            except (OSError, struct.error):
                continue
        raise ConnectionError("no Kafka node answers")

    def partition_leader(self, topic: str, partition: int = 0) -> int:
        return self.metadata().partitions[topic, partition].leader

    def leader_counts(self) -> Counter[int]:
        """Partitions led per broker; `.most_common(1)` is the broker to kill for most damage."""
        return Counter(p.leader for p in self.metadata().partitions.values() if p.leader >= 0)

    def wait_until_replicated(self, topic: str, timeout_s: float = 30.0) -> None:
        """Wait until every live node sees all of `topic`'s replicas in sync (after a create or a
        restart); metadata reaches each broker on its own, so asking one node is not enough."""
        live = self.live_nodes()

        def replicated(node: KafkaNode) -> bool:
            mine = [
                s for (t, _), s in probe_metadata(node.address).partitions.items() if t == topic
            ]
            return bool(mine) and all(set(s.isr) == set(s.replicas) for s in mine)

        wait_for(lambda: all(replicated(n) for n in live), timeout_s, f"{topic} in sync")

    def controller_id(self) -> int:
        return quorum_leader(self.live_nodes()[0].address)

    def kill(self, node_id: int) -> None:
        """SIGKILL one node: no controlled shutdown, leadership moves after the session timeout."""
        process = self.nodes[node_id].process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def restart(self, node_id: int, timeout_s: float = 60.0) -> None:
        """Start a stopped node on its old ports and data, and wait until it serves again."""
        self.kill(node_id)
        self._launch(self.nodes[node_id])
        node = self.nodes[node_id]
        wait_for(
            lambda: self._alive() and node_id in probe_metadata(node.address).broker_ids,
            timeout_s,
            f"Kafka node {node_id} to rejoin",
        )

    def stop(self, keep_logs: bool | None = None) -> None:
        """SIGTERM all nodes at once (a lone survivor cannot finish a controlled shutdown)."""
        _LIVE.discard(self)
        running = [n.process for n in self.live_nodes() if n.process]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for process in running:
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if not (self.keep_logs if keep_logs is None else keep_logs):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def running_broker(self) -> RunningBroker:
        capabilities: frozenset[Capability] = APACHE_KAFKA_CAPABILITIES
        if len(self.nodes) > 1:
            capabilities = capabilities | {"multi_broker"}
        return RunningBroker(
            self.bootstrap_servers, "apache-kafka", self.version, capabilities,
            stop=self.stop, log_path=self.log_path,
        )  # fmt: skip

    def _alive(self) -> bool:
        """Raise at once (instead of at the timeout) when a node we started has died."""
        for node in self.nodes.values():
            if node.process is not None and node.process.poll() is not None:
                tail = (node.directory / "stdout.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"Kafka node {node.node_id} exited:\n{tail}")
        return True

    def _properties(self, node: KafkaNode) -> str:
        size = len(self.nodes)
        rf, min_isr = (1, 1) if size == 1 else (3, 2)
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes.values())
        settings = {
            "process.roles": "broker,controller",
            "node.id": node.node_id,
            "listeners": f"PLAINTEXT://{node.address},CONTROLLER://127.0.0.1:{node.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{node.address}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.quorum.voters": voters,  # static quorum: format needs no --standalone
            "log.dirs": node.directory / "data",
            "default.replication.factor": rf,
            "min.insync.replicas": min_isr,
            "offsets.topic.replication.factor": rf,
            "offsets.topic.num.partitions": 10,  # 50 makes the first group join slower
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": min_isr,
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": min_isr,
            "group.initial.rebalance.delay.ms": 0,
            # Fence a killed broker in ~3 s instead of 9 s so failover tests stay short.
            "broker.heartbeat.interval.ms": 500,
            "broker.session.timeout.ms": 3000,
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _java(self, node: KafkaNode, main: str, *args: str) -> list[str]:
        # C1 only (TieredStopAtLevel=1) starts the broker ~1 s sooner and is plenty for tests.
        return [
            "java", f"-Xms{self.heap_mb}m", f"-Xmx{self.heap_mb}m", "-XX:+UseG1GC",
            "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={node.directory / 'log4j2.properties'}",
            "-cp", f"{self.lib}/*", main, *args,
        ]  # fmt: skip

    def _format(self, cluster_id: str) -> None:
        formats = []
        for node in self.nodes.values():
            node.directory.mkdir(parents=True)
            (node.directory / "server.properties").write_text(self._properties(node))
            log4j = _LOG4J2.format(path=node.directory / "server.log")
            (node.directory / "log4j2.properties").write_text(log4j)
            config = str(node.directory / "server.properties")
            cmd = self._java(
                # `--cluster-id=` form: a random base64 id may start with "-", which argparse
                # would read as a flag after a separate `-t` (seen: 1 start in ~64 failed).
                node,
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={cluster_id}",
                "-c",
                config,
            )
            formats.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        for process in formats:  # in parallel: each is a ~1.5 s JVM start
            out, _ = process.communicate(timeout=120)
            if process.returncode != 0:
                raise RuntimeError(f"kafka storage format failed:\n{out.decode()[-3000:]}")

    def _launch(self, node: KafkaNode) -> None:
        config = str(node.directory / "server.properties")
        with (node.directory / "stdout.log").open("ab") as out:  # JVM crashes land here
            node.process = subprocess.Popen(
                self._java(node, "kafka.Kafka", config), stdout=out, stderr=subprocess.STDOUT
            )


def start_apache_kafka_cluster(
    nodes: int = 3, *, heap_mb: int = 512, startup_timeout_s: float = 90, keep_logs: bool = False
) -> ApacheKafkaCluster:
    """Start `nodes` (1 or 3) KRaft nodes and wait until every one is in the metadata."""
    if nodes not in (1, 3):
        raise ValueError("nodes must be 1 or 3 (a controller quorum needs an odd size)")
    lib = ensure_kafka_jars()
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="bsuid-kafka-"))
    members = {
        i: KafkaNode(i, free_port(), free_port(), workdir / f"node-{i}")
        for i in range(1, nodes + 1)
    }
    cluster = ApacheKafkaCluster(members, workdir, lib, heap_mb, keep_logs)
    _LIVE.add(cluster)
    try:
        cluster._format(base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode())
        for node in members.values():
            cluster._launch(node)
        everyone = frozenset(members)
        wait_for(
            lambda: (
                cluster._alive()
                and all(probe_metadata(n.address).broker_ids == everyone for n in members.values())
            ),
            startup_timeout_s,
            f"{nodes} Kafka node(s) in {workdir}",
        )
    except BaseException:
        cluster.stop(keep_logs=True)  # keep the logs: they say why it did not start
        raise
    cluster.startup_s = time.monotonic() - started
    log.info("Apache Kafka %s x%d ready in %.1f s", KAFKA_VERSION, nodes, cluster.startup_s)
    return cluster


def start_apache_kafka(
    nodes: int = 1, *, heap_mb: int = 512, startup_timeout_s: float = 90, keep_logs: bool = False
) -> RunningBroker:
    """Start a local Apache Kafka and describe it; `stop()` shuts it down and cleans up."""
    cluster = start_apache_kafka_cluster(
        nodes, heap_mb=heap_mb, startup_timeout_s=startup_timeout_s, keep_logs=keep_logs
    )
    return cluster.running_broker()


@atexit.register
def _stop_leftovers() -> None:
    for cluster in list(_LIVE):
        cluster.stop()
