"""What every broker the product can run on (or start for tests and the demo) looks like."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Capability = Literal[
    "compaction", "transactions", "exact_end_offsets", "multi_broker", "idempotence"
]

#: Capabilities of a real Apache Kafka cluster; Tansu lacks all of them (see docs/brokers.md).
APACHE_KAFKA_CAPABILITIES: frozenset[Capability] = frozenset(
    {"compaction", "transactions", "exact_end_offsets", "idempotence"}
)


@dataclass
class RunningBroker:
    """A broker the process can talk to, and how to stop it when we started it."""

    bootstrap_servers: str
    kind: Literal["external", "testcontainers", "apache-kafka", "tansu"]
    version: str
    capabilities: frozenset[Capability]
    stop: Callable[[], None] = field(default=lambda: None)
    #: Where the broker writes its logs, kept for a failing test ("" when unknown).
    log_path: str = ""
    #: The broker's process when we started a single-process one (tests stop it with SIGSTOP).
    pid: int | None = None

    def describe(self) -> str:
        """One line for the pytest header and bench tables: which broker ran."""
        return f"{self.kind} {self.version} at {self.bootstrap_servers}"

    def has(self, capability: Capability) -> bool:
        return capability in self.capabilities
