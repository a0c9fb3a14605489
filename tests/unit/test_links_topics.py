"""The links stage's topics: names from the settings, and the checks before it starts."""

from __future__ import annotations

import pytest

from processor.kafka.admin import links_topic_specs
from processor.links.topics import LinksError, LinkTopics, check_topics
from processor.settings import load_settings


class Reader:
    """Stands in for the changelog reader: partition counts of the topics that exist."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts

    async def partition_count(self, topic: str) -> int:
        if topic not in self.counts:
            raise LookupError(topic)
        return self.counts[topic]


def test_internal_topics_are_named_after_the_group() -> None:
    topics = LinkTopics.of(load_settings({}, environ={}))
    assert topics == LinkTopics(
        identity="customer.identity.v1",
        links="customer.identity.links.v1",
        repartition="bsuid-links-repartition",
        changelog="bsuid-links-changelog",
    )
    settings = load_settings({"links_group_id": "crm-links"}, environ={})
    assert LinkTopics.of(settings).changelog == "crm-links-changelog"


def test_the_links_topic_and_changelog_are_compacted() -> None:
    specs = {spec.name: spec for spec in links_topic_specs(load_settings({}, environ={}))}
    assert specs["customer.identity.links.v1"].configs == {"cleanup.policy": "compact"}
    assert specs["bsuid-links-changelog"].configs == {"cleanup.policy": "compact"}
    assert specs["bsuid-links-repartition"].configs == {}
    assert len({spec.partitions for spec in specs.values()}) == 1


async def test_a_changelog_with_another_partition_count_stops_the_stage() -> None:
    topics = LinkTopics("i", "l", "r", "c")
    assert await check_topics(Reader({"i": 3, "l": 6, "r": 6, "c": 6}), topics) == 6  # type: ignore[arg-type]
    with pytest.raises(LinksError, match="c has 3 partitions, r has 6"):
        await check_topics(Reader({"i": 3, "l": 6, "r": 6, "c": 3}), topics)  # type: ignore[arg-type]
    with pytest.raises(LinksError, match=r"topic c does not exist .*links topics"):
        await check_topics(Reader({"i": 3, "l": 6, "r": 6}), topics)  # type: ignore[arg-type]
    with pytest.raises(LinksError, match=r"topic i does not exist .*topics ensure"):
        await check_topics(Reader({"l": 6, "r": 6, "c": 6}), topics)  # type: ignore[arg-type]
