"""The links stage's topics: names from the settings, and the checks before it starts."""

from __future__ import annotations

import pytest

from processor.ops.health import StageHealth
from processor.runtime.errors import StageError
from processor.runtime.topics import all_topic_specs, links_topic_specs, topic_specs
from processor.settings import load_settings
from processor.stages.links import LinksHandler


class Reader:
    """Stands in for the changelog reader: partition counts of the topics that exist."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts

    async def start(self) -> None:
        pass

    async def partition_count(self, topic: str) -> int:
        return self.counts[topic]


async def test_internal_topics_are_named_after_the_group() -> None:
    handler = LinksHandler(load_settings({}, environ={}), None, StageHealth())
    assert handler.inputs == ("customer.identity.v1", "bsuid-links-repartition")
    assert handler.outputs() == {
        "customer.identity.v1",
        "customer.identity.links.v1",
        "bsuid-links-repartition",
        "bsuid-links-changelog",
    }
    settings = load_settings({"links_group_id": "crm-links"}, environ={})
    assert LinksHandler(settings, None, StageHealth()).changelog == "crm-links-changelog"


def test_the_links_topic_and_changelog_are_compacted() -> None:
    specs = {spec.name: spec for spec in links_topic_specs(load_settings({}, environ={}))}
    assert specs["customer.identity.links.v1"].configs == {"cleanup.policy": "compact"}
    assert specs["bsuid-links-changelog"].configs == {"cleanup.policy": "compact"}
    assert specs["bsuid-links-repartition"].configs == {}
    assert len({spec.partitions for spec in specs.values()}) == 1


def test_topics_ensure_creates_the_topics_of_both_stages() -> None:
    settings = load_settings({}, environ={})
    names = [spec.name for spec in all_topic_specs(settings)]
    assert names == [s.name for s in topic_specs(settings) + links_topic_specs(settings)]
    assert len(set(names)) == len(names)


async def test_a_changelog_with_another_partition_count_stops_the_stage() -> None:
    settings = load_settings({"links_group_id": "g"}, environ={})
    handler = LinksHandler(settings, None, StageHealth())
    handler.reader = Reader({"g-repartition": 6, "g-changelog": 6})  # type: ignore[assignment]
    await handler.prepare()
    assert handler.topology.partitions == 6
    handler.reader = Reader({"g-repartition": 6, "g-changelog": 3})  # type: ignore[assignment]
    with pytest.raises(StageError, match="g-changelog has 3 partitions, g-repartition has 6"):
        await handler.prepare()
