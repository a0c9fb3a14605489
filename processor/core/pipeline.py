"""The whole pure pipeline for a batch of records: decode -> classify -> gate -> normalize -> route.

Outputs go to an injected `emit` callable as they are made (a history chunk of thousands of
threads never sits in memory as a list of outputs); a dead letter is an output like any
other, never an escaping exception.

The worker hands over each fetched batch at once (`process_batch`): what every record would
otherwise look up again (settings, stats, bound methods) is looked up once per batch.
`process` is the same for one record (`classify`, the dead-letter redrive).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from processor.core.appearance import Appearance, Skipped
from processor.core.business import Businesses
from processor.core.classify import classify, parse_timestamp
from processor.core.decode import MAX_BODY_BYTES, decode_record
from processor.core.gate import resolve_business
from processor.core.records import InputRecord, ItemError, OutputRecord
from processor.core.registry import Registry
from processor.core.route import dead_letter, route_view
from processor.core.signature import SigningSecrets
from processor.core.stats import PipelineStats
from processor.core.view import view_of
from schemas.identity import Source

Emit = Callable[[OutputRecord], None]
#: Told about a record the pipeline failed on (a bug): it has been dead-lettered already.
Failed = Callable[[InputRecord, Exception], None]


@dataclass
class Pipeline:
    """The pure pipeline with what it needs to know; the same object serves every entry point."""

    registry: Registry = field(default_factory=Registry)
    secrets: SigningSecrets = field(default_factory=SigningSecrets)
    include_standby: bool = True
    max_body_bytes: int = MAX_BODY_BYTES
    stats: PipelineStats = field(default_factory=PipelineStats)
    _businesses: Businesses = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._businesses = Businesses(self.registry)

    def process(self, record: InputRecord, emit: Emit) -> None:
        """Every record ends as outputs, a counted skip, or exactly one dead letter."""
        self.process_batch((record,), emit)

    def process_batch(
        self, records: Iterable[InputRecord], emit: Emit, failed: Failed | None = None
    ) -> None:
        """`process` for every record, in order. A bug in the pipeline (an exception) raises,
        unless `failed` is given: then the record is dead-lettered as `internal_error`, its
        caller told, and the batch goes on (the stream must not stop on one record)."""
        stats = self.stats
        dead_letters = stats.dead_letters
        one = self._record
        if self._businesses.registry is not self.registry:
            self._businesses = Businesses(self.registry)
        self._businesses.sync()
        count = 0
        try:
            for record in records:
                count += 1
                try:
                    one(record, emit)
                except Exception as exc:
                    if failed is None:
                        raise
                    dead_letters["internal_error"] += 1
                    emit(dead_letter(record, ItemError("internal_error", type(exc).__name__)))
                    failed(record, exc)
        finally:
            stats.records += count

    def _record(self, record: InputRecord, emit: Emit) -> None:
        stats = self.stats
        decoded = decode_record(record, self.secrets, self.max_body_bytes)
        if isinstance(decoded, ItemError):
            stats.dead_letters[decoded.code] += 1
            emit(dead_letter(record, decoded))
            return
        fmt, body, adapter = decoded
        stats.format_records[adapter.index] += 1
        source = Source(
            format=fmt, topic=record.topic, partition=record.partition, offset=record.offset
        )
        fallback_time = record.timestamp_ms // 1000
        event = self._event
        published = failed = 0
        first_error: ItemError | None = None
        skip_reason = ""
        # Appearances first: nearly every item is one, and nearly every one is published.
        for item in adapter.appearances(body, record.value, self.include_standby):
            if isinstance(item, Appearance):
                outcome = event(item, source, fallback_time)
                if isinstance(outcome, OutputRecord):
                    published += 1
                    emit(outcome)
                    continue
            elif isinstance(item, Skipped):
                skip_reason = skip_reason or item.reason
                stats.skipped_changes[item.reason] += 1
                continue
            else:
                outcome = item
            failed += 1
            first_error = first_error or outcome
        if first_error is not None:
            if failed > 1:
                first_error = ItemError(
                    first_error.code, f"{first_error.message} (and {failed - 1} more failed items)"
                )
            stats.dead_letters[first_error.code] += 1
            emit(dead_letter(record, first_error))
        elif not published:
            stats.skips[skip_reason or "no_customer_appearance"] += 1

    def _event(
        self, app: Appearance, source: Source, fallback_time: int
    ) -> OutputRecord | ItemError:
        # Time, business, then identifiers: each a lookup in the common case. Any of them
        # failing sends the appearance to `_failed`, which says why in the contract's order.
        occurred_at = parse_timestamp(app.timestamp, fallback_time)
        if occurred_at is None:
            return self._failed(app, fallback_time)
        business = self._businesses.resolve(app.business, occurred_at)
        if isinstance(business, ItemError):
            return self._failed(app, fallback_time)
        view = view_of(
            business,
            app.bsuid,
            app.parent_bsuid,
            app.phone,
            app.previous_bsuid,
            app.name,
            app.username,
            app.phone_attested,
        )
        if view is None:
            return self._failed(app, fallback_time)
        stats = self.stats
        if view.legacy_length:
            stats.legacy_bsuids += 1
        stats.events[(view.route, view.identity_class, app.event_type)] += 1
        return route_view(view, app, occurred_at, source)

    def _failed(self, app: Appearance, fallback_time: int) -> ItemError:
        """Why the appearance cannot be published, checked in the contract's order: its
        identifiers, its time, then its business (the fast path checked them the other way
        round and only knows that one failed)."""
        found = classify(app, fallback_time)
        if isinstance(found, ItemError):
            return found
        business = resolve_business(app.business, self.registry, found.occurred_at)
        if isinstance(business, ItemError):
            return ItemError(business.code, f"{business.message} (for {app.path})")
        raise AssertionError(f"the appearance at {app.path} failed no check")  # pragma: no cover
