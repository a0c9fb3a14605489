"""`bsuid-processor demo`: the whole product on the embedded broker, in a few seconds.

Start Tansu (zero-install), create the topics, publish a realistic generated mix, run the
worker until drained, then print what happened per route, class, event type and dead-letter
code, with the throughput.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from processor.core.stats import PipelineStats
from processor.devkit.brokers.base import RunningBroker
from processor.devkit.brokers.select import start_broker
from processor.devkit.generate import demo_registry_toml, generate
from processor.devkit.publish import publish
from processor.ops.health import StageHealth
from processor.runtime.topics import ensure_topics, topic_specs
from processor.settings import load_registry
from processor.wiring import StageOptions, build_pipeline, serve_identity
from schemas.settings import Settings


@dataclass
class DemoResult:
    broker: str
    records: int
    seconds: float
    stats: PipelineStats


async def run_demo(settings: Settings, records: int, console: Console) -> DemoResult:
    with tempfile.TemporaryDirectory(prefix="bsuid-demo-") as workdir:
        registry_path = Path(workdir) / "numbers.toml"
        registry_path.write_text(demo_registry_toml())
        registry = load_registry(str(registry_path))
    await ensure_topics(settings, topic_specs(settings))
    with console.status(f"publishing {records:,} generated webhooks"):
        raw = ((r.key, r.value, r.headers) for r in generate(records))
        await publish(settings, settings.raw_topic, raw)
    pipeline = build_pipeline(settings, registry)
    health = StageHealth()
    with console.status("worker running until the raw topic is drained"):
        await serve_identity(
            settings,
            pipeline,
            StageOptions(stop_when_drained=True, install_signal_handlers=False, health=health),
        )
    seconds = max(health.last_batch_at - health.first_batch_at, 1e-3)
    return DemoResult(settings.bootstrap_servers, records, seconds, pipeline.stats)


def start_demo_broker() -> RunningBroker:
    """The embedded Tansu broker unless KAFKA_BOOTSTRAP_SERVERS or BROKER says otherwise."""
    return start_broker(prefer="tansu")


def summary_tables(result: DemoResult) -> list[Table]:
    stats = result.stats
    routes = Table(title="Outputs per route and identity class")
    for column in ("route", "bsuid_only", "phone_and_bsuid", "phone_only", "total"):
        routes.add_column(column, justify="right" if column != "route" else "left")
    for route in ("identity", "dropped"):
        by_class = dict.fromkeys(("bsuid_only", "phone_and_bsuid", "phone_only"), 0)
        for (r, cls, _type), n in stats.events.items():
            if r == route:
                by_class[cls] += n
        routes.add_row(route, *(f"{n:,}" for n in by_class.values()), f"{sum(by_class.values()):,}")
    dead = sum(stats.dead_letters.values())
    routes.add_row("dlq", "", "", "", f"{dead:,}")
    routes.add_row("skipped", "", "", "", f"{sum(stats.skips.values()):,}")

    types = Table(title="Identity events per event type")
    types.add_column("eventType")
    types.add_column("identity", justify="right")
    types.add_column("dropped", justify="right")
    per_type: dict[str, dict[str, int]] = {}
    for (route, _cls, event_type), n in stats.events.items():
        per_type.setdefault(event_type, {"identity": 0, "dropped": 0})[route] += n
    for event_type, counts in sorted(per_type.items()):
        types.add_row(event_type, f"{counts['identity']:,}", f"{counts['dropped']:,}")

    formats = Table(title="Input webhooks per format")
    formats.add_column("format")
    formats.add_column("webhooks", justify="right")
    for name, n in sorted(stats.formats.items()):
        formats.add_row(name, f"{n:,}")
    undecoded = stats.records - sum(stats.formats.values())
    formats.add_row("not decoded (dead letters)", f"{undecoded:,}")

    codes = Table(title="Dead letters and skips")
    codes.add_column("kind")
    codes.add_column("code / reason")
    codes.add_column("records", justify="right")
    for code, n in sorted(stats.dead_letters.items()):
        codes.add_row("dead letter", code, f"{n:,}")
    for reason, n in sorted(stats.skips.items()):
        codes.add_row("skip", reason, f"{n:,}")
    return [routes, formats, types, codes]
