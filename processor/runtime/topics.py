"""The topics of every stage: their specs, creating the missing ones, requiring them at start.

`topics ensure` and `--create-topics` create what is missing, nothing else. A stage requires
its topics before any client asks for one by name: a broker with `auto.create.topics.enable`
would otherwise create it with the broker's defaults (one partition, 1 MB records).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from processor.runtime.clients import make_admin
from schemas.settings import Settings

log = structlog.get_logger("processor.topics")

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
        # Dead letters that failed again when redriven (`dlq redrive`, docs/dlq.md).
        TopicSpec(settings.parked_topic, partitions, dict(LARGE_RECORDS)),
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
    admin = make_admin(settings)
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


class TopicsMissingError(Exception):
    """Topics a stage needs do not exist: one line naming them and how to create them."""


#: How long a topic missing at start may take to show up (one created a moment ago).
REQUIRE_TOPICS_S = 5.0


async def require_topics(client: Any, wanted: Iterable[str], where: str) -> None:
    """Wait (bounded) until every topic in `wanted` is listed by the cluster metadata that
    `client` (a started producer's client) fetches; raise `TopicsMissingError` if not."""
    names = set(wanted)
    deadline = time.monotonic() + REQUIRE_TOPICS_S
    while True:
        cluster = await client.fetch_all_metadata()
        missing = sorted(t for t in names if not cluster.partitions_for_topic(t))
        if not missing or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)  # a topic created a moment ago may not be listed yet
    if missing:
        raise TopicsMissingError(
            f"topics {', '.join(missing)} do not exist at {where}:"
            " create them with `bsuid-processor topics ensure` (or run with --create-topics)"
        )


def all_topic_specs(settings: Settings) -> list[TopicSpec]:
    """Every topic of both stages (`topics ensure`)."""
    return topic_specs(settings) + links_topic_specs(settings)
