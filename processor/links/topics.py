"""The topics of the links stage, and the checks made before reading any of them."""

from __future__ import annotations

from dataclasses import dataclass

from processor.kafka.admin import links_topic_specs
from processor.links.restore import ChangelogReader
from schemas.settings import Settings


class LinksError(Exception):
    """The links stage cannot go on safely; the message says why, in one line."""


@dataclass(frozen=True)
class LinkTopics:
    identity: str
    links: str
    repartition: str
    changelog: str

    @classmethod
    def of(cls, settings: Settings) -> LinkTopics:
        links, repartition, changelog = (spec.name for spec in links_topic_specs(settings))
        return cls(settings.identity_topic, links, repartition, changelog)


async def check_topics(reader: ChangelogReader, topics: LinkTopics) -> int:
    """The repartition topic's partition count, once every topic is known to exist and the
    changelog has as many partitions (partition p's state is read back from changelog p)."""
    counts: dict[str, int] = {}
    for topic in (topics.identity, topics.links, topics.repartition, topics.changelog):
        try:
            counts[topic] = await reader.partition_count(topic)
        except LookupError:
            made_by = "topics ensure" if topic == topics.identity else "links topics"
            raise LinksError(
                f"topic {topic} does not exist (create it with `bsuid-processor {made_by}`"
                f"{'' if topic == topics.identity else ' or --create-topics'})"
            ) from None
    repartition, changelog = counts[topics.repartition], counts[topics.changelog]
    if repartition != changelog:
        raise LinksError(
            f"{topics.changelog} has {changelog} partitions, "
            f"{topics.repartition} has {repartition}: they must be equal"
        )
    return repartition
