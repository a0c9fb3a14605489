"""What a stage knows about its own state: read by the HTTP probes and metrics."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from processor.ops.latency import RecordLatency

Phase = Literal["starting", "running", "draining", "stopped", "failed"]


@dataclass
class StageHealth:
    phase: Phase = "starting"
    #: monotonic time of the last turn of the processing loop ...
    last_loop_at: float = field(default_factory=time.monotonic)
    #: ... and of the last periodic summary line.
    last_summary_at: float = field(default_factory=time.monotonic)
    assigned_partitions: int = 0
    #: The group has handed out partitions at least once (even zero of them to us).
    assignment_received: bool = False
    broker_reachable: bool = False
    broker_unreachable_since: float | None = None
    #: Readiness conditions a handler adds (`control_loaded`, `state_restored`): each must
    #: be true before the stage is ready.
    loaded: dict[str, bool] = field(default_factory=dict)
    rebalances: int = 0
    rewinds: int = 0
    commits: int = 0
    commit_failures: int = 0
    delivery_failures: int = 0
    in_flight_records: int = 0
    #: Consumer lag per "topic:partition" (high watermark - our last commit), refreshed on
    #: every commit and broker probe.
    lag: dict[str, int] = field(default_factory=dict)
    #: Lag of the whole consumer group per (group, topic, partition): end offset minus the
    #: group's committed offset, as Kafka sees it (`runtime.group_lag`, on a timer).
    group_lag: dict[tuple[str, str, int], int] = field(default_factory=dict)
    #: time.time() of the last successful read of `group_lag` (0: none yet).
    group_lag_read_at: float = 0.0
    #: Called once per processed batch with its duration (the metrics histogram), if set:
    #: one observation per batch keeps Prometheus off the per-record hot path.
    batch_seconds: Callable[[float], None] | None = None
    #: Record age and wait histograms, counted in bulk per batch, if set (the metrics).
    latency: RecordLatency | None = None
    #: perf_counter() when the first batch started and the last one was handed over: the
    #: processing span, without the group join or the idle time before a drain is noticed.
    first_batch_at: float = 0.0
    last_batch_at: float = 0.0

    def summary_due(self, every_s: float) -> bool:
        """True once per `every_s` while the loop turns: time for the periodic log line."""
        now = time.monotonic()
        if now - self.last_summary_at < every_s:
            return False
        self.last_summary_at = now
        return True

    def brief(self) -> dict[str, int]:
        """What the periodic log line says of the stage's Kafka side."""
        return {"lag": sum(self.lag.values()), "rebalances": self.rebalances}

    def loop_turned(self) -> None:
        self.last_loop_at = time.monotonic()

    def batch_done(self, started: float, finished: float) -> None:
        """One processed batch (perf_counter times)."""
        if self.batch_seconds is not None:
            self.batch_seconds(finished - started)
        self.first_batch_at = self.first_batch_at or started
        self.last_batch_at = finished

    def handed_over(self, parts: Sequence[tuple[str, Sequence[Any]]], polled_at: float) -> None:
        """A batch's outputs went to the producer: the input records per topic, and
        time.monotonic() when their poll returned."""
        if self.latency is not None:
            self.latency.handed_over(parts, polled_at)

    def alive(self, stall_after_s: float = 60.0) -> bool:
        return self.phase != "failed" and time.monotonic() - self.last_loop_at < stall_after_s

    def readiness(self) -> dict[str, bool]:
        """Each readiness condition by name: `/readyz` reports the failing ones."""
        return {
            "running": self.phase == "running",
            "assignment_received": self.assignment_received,
            "broker_reachable": self.broker_reachable,
            **self.loaded,
        }

    def ready(self) -> bool:
        return all(self.readiness().values())
