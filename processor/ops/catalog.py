"""Every metric a stage exports: name, type, labels, help, and the label values known upfront.

The one table the code, docs/operations.md, the Grafana dashboard and the alert rules are
checked against (tests/unit/test_metrics.py, tests/unit/test_monitoring.py): a panel or a
rule can name only what is listed here, and the operations guide documents each entry.
"""

from __future__ import annotations

from typing import Final, get_args

from processor.core.formats import NAMES as FORMAT_NAMES
from processor.core.records import DeadLetterCode, SkipReason
from processor.links.observe import SkipReason as LinkSkipReason
from processor.links.topology import Destination
from schemas.identity import EventType, IdentityClass

PREFIX: Final = "bsuid_processor"
#: Gate decision of each output route (dead letters have none).
DECISIONS: Final = {"identity": "admit", "dropped": "drop"}

# Label values every counter shows from the start, at 0, so a dashboard shows 0 and a rate
# is defined before the first record of each kind (not "no data"). Taken from the Literals
# the code counts with, so a new code or reason is listed here without anyone remembering to.
ROUTES: Final = tuple(DECISIONS)
IDENTITY_CLASSES: Final[tuple[str, ...]] = get_args(IdentityClass)
EVENT_TYPES: Final[tuple[str, ...]] = get_args(EventType)
DEAD_LETTER_CODES: Final[tuple[str, ...]] = get_args(DeadLetterCode)
SKIP_REASONS: Final[tuple[str, ...]] = get_args(SkipReason)
FORMATS: Final[tuple[str, ...]] = tuple(FORMAT_NAMES)
LINK_DESTINATIONS: Final[tuple[str, ...]] = get_args(Destination)
LINK_SKIPS: Final[tuple[str, ...]] = (*get_args(LinkSkipReason), "undecodable")

#: From about a millisecond to the longest batch a 5000-record poll should take.
BATCH_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

#: name (without prefix) -> (type, labels, help): the table docs/operations.md documents.
METRICS: Final[dict[str, tuple[str, tuple[str, ...], str]]] = {
    "build_info": (
        "gauge",
        ("version", "python_version", "aiokafka_version", "stage"),
        "Always 1: the running version, its Python and aiokafka, and the stage",
    ),
    "up": ("gauge", (), "1 while the worker is alive (the /healthz condition)"),
    "ready": ("gauge", (), "1 while the worker is ready (the /readyz condition)"),
    "records_total": ("counter", (), "Input records read from the raw topic and processed"),
    "format_records_total": (
        "counter",
        ("format",),
        "Input records by webhook format (meta, connectly, vonage, wati), once decoded",
    ),
    "events_total": (
        "counter",
        ("route", "identity_class", "decision", "event_type"),
        "Identity events published, by output route, identity class, gate decision, type",
    ),
    "dead_letters_total": ("counter", ("code",), "Records dead-lettered, by error code"),
    "skips_total": ("counter", ("reason",), "Records that produced no output, by reason"),
    "skipped_changes_total": (
        "counter",
        ("reason",),
        "Changes passed over inside records that did produce output, by reason",
    ),
    "legacy_bsuids_total": ("counter", (), "BSUIDs of the legacy 256-character form accepted"),
    "consumer_lag": (
        "gauge",
        ("topic", "partition"),
        "Records between the high watermark and this worker's last commit",
    ),
    "group_lag_records": (
        "gauge",
        ("group", "topic", "partition"),
        "Records between the end of each input partition and the group's committed offset, "
        "for the whole group (every member exports every partition: aggregate with max)",
    ),
    "group_lag_read_timestamp_seconds": (
        "gauge",
        (),
        "When the group lag was last read from the broker (Unix time; 0: not yet)",
    ),
    "assigned_partitions": ("gauge", (), "Input partitions assigned to this worker"),
    "in_flight_records": ("gauge", (), "Input records whose outputs await broker acks"),
    "broker_reachable": ("gauge", (), "1 when the last broker probe succeeded"),
    "rebalances_total": ("counter", (), "Consumer group rebalances (partitions revoked)"),
    "commits_total": ("counter", (), "Offset commits that succeeded"),
    "commit_failures_total": ("counter", (), "Offset commits refused or failed"),
    "produce_errors_total": ("counter", (), "Output batches the broker did not acknowledge"),
    "produce_retries_total": ("counter", (), "Rewinds to the last commit to produce again"),
    "links_input_records_total": (
        "counter",
        ("topic",),
        "Links stage: records read, by input topic (identity, repartition)",
    ),
    "links_output_records_total": (
        "counter",
        ("destination",),
        "Links stage: records written, by destination (links, repartition, identity, changelog)",
    ),
    "links_skips_total": (
        "counter",
        ("reason",),
        "Links stage: identity events that say nothing about links, by reason",
    ),
    "links_rotations_total": ("counter", (), "Links stage: BSUID rotations announced"),
    "links_tombstones_total": (
        "counter",
        (),
        "Links stage: tombstones written to the links topic (a phone's link removed)",
    ),
    "links_state_links": ("gauge", (), "Links stage: phone links held in memory"),
    "links_state_partitions": ("gauge", (), "Links stage: state partitions held in memory"),
    "batch_seconds": (
        "histogram",
        (),
        "Time to process and hand one polled batch to the producer",
    ),
    "record_age_seconds": (
        "histogram",
        ("topic",),
        "Age of each input record when its outputs are handed to the producer: now minus "
        "its Kafka timestamp, by input topic",
    ),
    "record_wait_seconds": (
        "histogram",
        (),
        "Time each input record spent in the worker, from the poll that returned it to the "
        "hand-over of its outputs to the producer",
    ),
}

#: Families of the identity stage's handler, and of the links stage's; the rest every stage has.
IDENTITY_ONLY: Final = frozenset(
    {
        "records_total",
        "events_total",
        "dead_letters_total",
        "skips_total",
        "skipped_changes_total",
        "legacy_bsuids_total",
    }
)
LINKS_ONLY: Final = frozenset(name for name in METRICS if name.startswith("links_"))
#: The standard families prometheus_client's process, platform and GC collectors add.
STANDARD: Final = (
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
    "python_info",
    "python_gc_collections_total",
    "python_gc_objects_collected_total",
    "python_gc_objects_uncollectable_total",
)
