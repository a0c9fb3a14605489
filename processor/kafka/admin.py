"""Topic bootstrap (`topics ensure`, `--create-topics`): create what is missing, nothing else."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from processor.kafka.client_config import connection_kwargs
from schemas.settings import Settings

log = structlog.get_logger("processor.admin")

#: Dead letters keep bodies up to Meta's 3 MB limit plus headers: above Kafka's 1 MB default.
LARGE_RECORDS = {"max.message.bytes": str(5 * 1024 * 1024)}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    configs: dict[str, str]


def topic_specs(settings: Settings, *, suffix: str = "") -> list[TopicSpec]:
    """Every topic the processor reads or writes, with the cleanup policy each needs."""
    partitions = settings.topic_partitions
    return [
        TopicSpec(settings.raw_topic, partitions, dict(LARGE_RECORDS)),
        TopicSpec(settings.identity_topic + suffix, partitions, {}),
        TopicSpec(settings.dropped_topic + suffix, partitions, {}),
        TopicSpec(settings.dlq_topic + suffix, partitions, dict(LARGE_RECORDS)),
        # Latest enablement per number is all that matters: compacted, one partition so every
        # worker reads the changes in the order they were made.
        TopicSpec(settings.control_topic, 1, {"cleanup.policy": "compact"}),
        TopicSpec(settings.replay_state_topic, 1, {"cleanup.policy": "compact"}),
    ]


def links_topic_specs(settings: Settings) -> list[TopicSpec]:
    """The topics of `links run`: the compacted links topic, its repartition topic and its
    compacted changelog (the two internal ones with the same partition count)."""
    partitions = settings.topic_partitions
    group = settings.links_group_id
    return [
        TopicSpec(settings.links_topic, partitions, {"cleanup.policy": "compact"}),
        TopicSpec(f"{group}-repartition", partitions, {}),
        TopicSpec(f"{group}-changelog", partitions, {"cleanup.policy": "compact"}),
    ]


async def ensure_topics(settings: Settings, specs: list[TopicSpec]) -> list[str]:
    """Create the topics of `specs` that do not exist yet; return the names created."""
    admin = AIOKafkaAdminClient(**connection_kwargs(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        replication = settings.replication_factor
        if replication == -1:
            # Three copies where the cluster has them, fewer on a small (test) cluster.
            replication = min(3, len((await admin.describe_cluster())["brokers"]))
        created: list[str] = []
        for spec in missing:
            topic = NewTopic(
                name=spec.name,
                num_partitions=spec.partitions,
                replication_factor=replication,
                topic_configs=spec.configs,
            )
            try:
                await admin.create_topics([topic])
            except TopicAlreadyExistsError:
                continue  # another worker created it first
            created.append(spec.name)
            log.info("topic created", topic=spec.name, partitions=spec.partitions, **spec.configs)
        return created
    finally:
        await admin.close()
