"""Running counts of what the pipeline did: read by the worker for metrics and summaries."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from processor.core.formats import NAMES as FORMAT_NAMES


@dataclass
class PipelineStats:
    records: int = 0
    #: (route, identity class, event type) -> events
    events: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    #: Records that produced nothing, by reason.
    skips: Counter[str] = field(default_factory=Counter)
    #: Changes passed over inside records that did produce output, by reason.
    skipped_changes: Counter[str] = field(default_factory=Counter)
    legacy_bsuids: int = 0
    #: Input records per format, in `processor.core.formats.ADAPTERS` order: read `formats`.
    #: A list, not a Counter: a Counter increment costs ~2% of the whole per-record budget.
    format_records: list[int] = field(default_factory=lambda: [0] * len(FORMAT_NAMES))

    @property
    def formats(self) -> Counter[str]:
        """Input records by format (`source.format`: meta, connectly, vonage, wati), counted
        once the format is known and the body decoded; records dead-lettered before that (too
        large, not JSON, no known format, bad signature) are in `dead_letters` only."""
        counts = zip(FORMAT_NAMES, self.format_records, strict=True)
        return Counter({name: count for name, count in counts if count})

    def merge(self, other: PipelineStats) -> None:
        self.records += other.records
        self.events.update(other.events)
        self.dead_letters.update(other.dead_letters)
        self.skips.update(other.skips)
        self.skipped_changes.update(other.skipped_changes)
        self.legacy_bsuids += other.legacy_bsuids
        self.format_records = [
            mine + theirs
            for mine, theirs in zip(self.format_records, other.format_records, strict=True)
        ]

    def by_route(self) -> Counter[str]:
        routes: Counter[str] = Counter()
        for (route, _class, _type), count in self.events.items():
            routes[route] += count
        routes["dlq"] += sum(self.dead_letters.values())
        return routes
