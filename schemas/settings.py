"""Every setting of the processor, in one frozen Struct (CONTRACT 7).

Field names are the TOML keys; `processor.settings` maps each to its environment variable and
command-line flag. Unknown keys are rejected so a misspelt setting stops the process at start.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from schemas.base import OwnedStruct

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
Positive = Annotated[int, msgspec.Meta(gt=0)]
Seconds = Annotated[float, msgspec.Meta(gt=0)]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
LogFormat = Literal["auto", "json", "console"]
LogLevel = Literal["debug", "info", "warning", "error"]
Guarantee = Literal["at-least-once", "exactly-once"]

#: Settings whose values never appear in `config show` or logs.
SECRET_FIELDS = frozenset(
    {"sasl_password", "meta_app_secret", "connectly_webhook_secret", "vonage_signature_secret"}
)


class Settings(OwnedStruct, frozen=True, kw_only=True):
    # Kafka connection and security
    bootstrap_servers: str = "localhost:9092"
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = ""
    sasl_username: str = ""
    sasl_password: str = ""
    ssl_cafile: str = ""
    ssl_certfile: str = ""
    ssl_keyfile: str = ""
    client_id: str = "bsuid-processor"
    # Topics (CONTRACT 2 and 5)
    raw_topic: str = "whatsapp.webhooks.raw"
    identity_topic: str = "customer.identity.v1"
    dropped_topic: str = "customer.identity.dropped.v1"
    dlq_topic: str = "whatsapp.webhooks.dlq"
    control_topic: str = "bsuid.enablement.v1"
    #: Where a replay with --group keeps the end offsets of its first run (compacted).
    replay_state_topic: str = "bsuid.replay.state"
    # Topic bootstrap (`topics ensure`, `--create-topics`)
    create_topics: bool = False
    topic_partitions: Positive = 6
    #: -1: three replicas, or as many as the cluster has brokers when fewer.
    replication_factor: Annotated[int, msgspec.Meta(ge=-1)] = -1
    # Pipeline
    numbers: str = ""
    meta_app_secret: str = ""
    connectly_webhook_secret: str = ""
    #: Vonage's account signature secret: the HS256 key of its webhook JWTs.
    vonage_signature_secret: str = ""
    #: Check webhook signatures where a secret is set. Off: secrets are ignored.
    verify_signatures: bool = True
    #: Refuse to start unless a signing secret is set (and verification is on).
    require_signatures: bool = False
    include_standby: bool = True
    # Worker
    group_id: str = "bsuid-processor"
    guarantee: Guarantee = "at-least-once"
    #: Exactly-once: transactional ids are `<prefix>-<raw topic>-<partition>` ("" = group_id).
    transactional_id_prefix: str = ""
    #: Exactly-once: a partition's transaction commits once it holds this many outputs ...
    transaction_max_records: Positive = 20_000
    #: ... or when it has been open this long: the added latency of every output.
    transaction_interval_ms: Positive = 100
    #: `run` only: worker processes of the group on this machine (one per core is the most
    #: that helps: each is CPU-bound on one core).
    processes: Annotated[int, msgspec.Meta(ge=1, le=256)] = 1
    max_batch_records: Positive = 5000
    max_inflight_records: Positive = 50_000
    max_inflight_bytes: Positive = 64 * 1024 * 1024
    shutdown_timeout_s: Seconds = 30.0
    session_timeout_ms: Positive = 10_000
    heartbeat_interval_ms: Positive = 3_000
    #: A broker unreachable this long makes the worker say so (and fail readiness).
    broker_unavailable_warn_s: Seconds = 15.0
    #: How long start-up waits for a broker that is not up yet (retrying with backoff).
    connect_timeout_s: Seconds = 60.0
    # Identity links (`links run`): the stage after the identity topic
    links_topic: str = "customer.identity.links.v1"
    #: Consumer group of `links run`; its internal topics are `<group>-repartition` and
    #: `<group>-changelog` (Kafka Streams names them after its application id likewise).
    links_group_id: str = "bsuid-links"
    #: Longest time to read a partition's changelog back into memory on assignment.
    links_restore_timeout_s: Seconds = 600.0
    # Operations
    #: All interfaces: probes and scrapes come from outside the container.
    http_host: str = "0.0.0.0"  # noqa: S104
    http_port: Port = 8080
    log_format: LogFormat = "auto"
    log_level: LogLevel = "info"
