"""`BROKER` names: the short ones and the aliases users reach for pick the same broker."""

from __future__ import annotations

import pytest

from processor.devkit.brokers.select import canonical_kind, start_kind


@pytest.mark.parametrize(
    ("name", "kind"),
    [("apache-kafka", "kafka"), ("kafka", "kafka"), ("embedded", "tansu"), ("tansu", "tansu")],
)
def test_aliases_name_the_same_broker(name: str, kind: str) -> None:
    assert canonical_kind(name) == kind


def test_an_unknown_broker_lists_every_name_it_accepts() -> None:
    with pytest.raises(ValueError, match="unknown broker 'redpanda'") as caught:
        start_kind("redpanda")
    for name in ("kafka", "tansu", "testcontainers", "apache-kafka", "embedded"):
        assert name in str(caught.value)
