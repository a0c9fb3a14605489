"""Every setting of the processor, in one frozen Struct (docs/configuration.md).

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
NonNegative = Annotated[int, msgspec.Meta(ge=0)]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]
#: gzip comes with Python; snappy, lz4 and zstd with cramjam, a dependency of the processor.
Compression = Literal["none", "gzip", "snappy", "lz4", "zstd"]
LogFormat = Literal["auto", "json", "console"]
LogLevel = Literal["debug", "info", "warning", "error"]
Guarantee = Literal["at-least-once", "exactly-once"]

#: Settings whose values never appear in `config show` or logs.
SECRET_FIELDS = frozenset(
    {
        "sasl_password",
        "sasl_oauth_client_secret",
        "meta_app_secret",
        "connectly_webhook_secret",
        "vonage_signature_secret",
    }
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
    # SASL/OAUTHBEARER: a token from an OAuth 2.0 client-credentials endpoint (RFC 6749 4.4)
    sasl_oauth_token_url: str = ""
    sasl_oauth_client_id: str = ""
    sasl_oauth_client_secret: str = ""
    #: Space-separated scopes to ask for ("" asks for the client's default scopes).
    sasl_oauth_scope: str = ""
    #: SASL extensions sent with the token, `key=value,key=value` (Confluent Cloud needs
    #: `logicalCluster` and `identityPoolId`).
    sasl_oauth_extensions: str = ""
    # Kafka client tuning (docs/configuration.md): production defaults
    #: Codec of every batch the processor produces. zstd: a tenth of the bytes for ~7% more
    #: worker CPU; lz4 (aiokafka's level 9) saved less for more CPU (bench --compression,
    #: docs/configuration.md). cramjam, which it needs, is a dependency: always installed.
    compression_type: Compression = "zstd"
    #: How long a single send waits for more records to join its batch (Kafka 4's default).
    #: Stages hand the producer whole batches per poll, which never wait.
    linger_ms: NonNegative = 5
    #: Largest record batch (bytes, before compression) a producer builds per partition.
    batch_size: Annotated[int, msgspec.Meta(ge=1024, le=5 * 1024 * 1024)] = 512 * 1024
    #: A fetch returns once this many bytes are there, or after `fetch_max_wait_ms`.
    fetch_min_bytes: Positive = 1
    fetch_max_wait_ms: NonNegative = 500
    #: Most bytes one fetch returns, over all partitions ...
    fetch_max_bytes: Positive = 64 * 1024 * 1024
    #: ... and per partition (a 3 MB webhook must fit; Kafka returns a larger first batch anyway).
    max_partition_fetch_bytes: Positive = 4 * 1024 * 1024
    #: The rack (cloud: availability zone id) this process runs in: consumers then fetch from
    #: a replica in the same rack (KIP-392; the brokers need `replica.selector.class`).
    client_rack: str = ""
    #: How long a client waits for any broker answer before retrying.
    request_timeout_ms: Annotated[int, msgspec.Meta(ge=1000)] = 40_000
    # Topics (docs/providers.md, docs/schemas.md)
    raw_topic: str = "whatsapp.webhooks.raw"
    identity_topic: str = "customer.identity.v1"
    dropped_topic: str = "customer.identity.dropped.v1"
    dlq_topic: str = "whatsapp.webhooks.dlq"
    #: Where a dead letter that fails again during `dlq redrive` goes ("" = <dlq_topic>.parked).
    parking_topic: str = ""
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

    @property
    def parked_topic(self) -> str:
        """The parking topic's name (`parking_topic`, or derived from the dead-letter topic)."""
        return self.parking_topic or f"{self.dlq_topic}.parked"
