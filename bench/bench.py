"""Throughput, CPU and memory of the worker against the best bare aiokafka passthrough.

    .venv/bin/python bench/bench.py [--records N] [--partitions 6] [--repeat K]
                                    [--core-only] [--profile] [--memory-check]
                                    [--processes N] [--compression lz4]

One run, one broker, one data set: `processor.devkit.generate.generate(N, seed)` (200k realistic
webhooks by default: Meta and Connectly, retries, ~2% malformed) is published once to a raw
topic of `--partitions` partitions, then read by

(a) baseline: `_baseline.py`, a bare aiokafka consumer group that decodes each value with a
    typed msgspec decoder, encodes a small envelope around it and produces it with the batch
    API (one batch per partition), committing `{tp: offset + 1}` after the acks;
(a') pipeline loop: `_pipeline_loop.py`, a bare aiokafka loop (getmany, batch-API produce,
    commit after acks) running the product's own `Pipeline.process`: the worker against it is
    the cost of the stage runtime (`ratio_vs_pipeline_loop`), it against (a) the cost of the
    per-record work;
(b) processor: `python -m processor run --exit-when-drained`, configured by environment
    variables, with its own fresh output topics and group;
(b'') the same with `--processes N` (default: the machine's cores; 1 skips it): N workers of
    one group from one command. One run, no matching multi-process baseline: `ratio` stays
    one process against one process;
(b''') with `--compression CODEC`: the worker again with that codec (`compression_type`),
    against (b), which runs with `compression_type = none` like the baseline. Both print
    records/s and the bytes on the wire: the size of the record batches on the output topics
    as the broker serves them to a fetch (`_wire.py`), i.e. what crossed the network from the
    worker and what every consumer fetches again;
(c) core: `Pipeline.process` in this process with a no-op emit (see `_core.py`), for all
    records and for single-item bodies only.

(a) and (b) are subprocesses measured from outside, the same way (`_measure.py`):

- Throughput window: the consumer group's committed offsets are polled every 100 ms. The
  window opens at the first poll that sees a commit (t0, c0 records) and closes when all N
  are committed (t1); rate = (N - c0) / (t1 - t0). Process start, group join and the first
  batch are thus excluded from both runs alike, and the end is "the last output acknowledged
  and its input committed", not "the last record read".
  The baseline is fast: at 200k records its window is only 2-4 s, so the 100 ms polls and
  200 ms commit cadence move its rate by up to ~15%. Use --repeat, or --records 1000000,
  when the ratio must be tight.
- CPU s per 100k: the child's user+system CPU (psutil, its own children included) between t0
  and t1, per 100k records of the window. Peak RSS: psutil sampled every 50 ms over the
  child's whole life, summed over its children.

What the numbers count:

- events/s = input records handled per second: for the baseline, records passed through; for
  the processor, raw webhook records processed (published, skipped or dead-lettered). `ratio`
  is processor / baseline of this rate: apples to apples, one input record each.
  `*_records_per_s` in the JSON is the same number, under the name other tools read.
- out/s = output records produced per second. Baseline: one per input. Processor: identity
  events (identity + dropped topics; `processor_identity_events_per_s`), dead letters in
  `processor_outputs_per_s`. They come from the worker's final "stage stopped" log line and are
  spread over the window at the input rate.
- core: records (and identity events) per CPU second in this process, i.e. per core.

`--memory-check` raises N to at least 1M and reads the worker's RSS when the committed sum
crosses 100k and 1M: flat memory means a ratio near 1. `--repeat K` reports the median of K
runs of (a), (b) and (c). `--profile` adds one worker run under pyinstrument (not counted in the
table) and writes bench/results/worker-profile-*.{html,txt}.

The broker is `processor.devkit.brokers.select.start_broker(prefer="tansu")`: the embedded Tansu
unless $KAFKA_BOOTSTRAP_SERVERS or $BROKER says otherwise. The table header names it. The last
line of stdout is one JSON object with every number.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from aiokafka.structs import TopicPartition
from rich.console import Console
from rich.table import Table

from processor.core.pipeline import Pipeline
from processor.devkit.brokers.base import RunningBroker
from processor.devkit.brokers.select import start_broker
from processor.devkit.generate import GeneratedRecord, demo_registry_toml, generate
from processor.devkit.publish import publish
from processor.ops.log import configure_logging
from processor.runtime.topics import LARGE_RECORDS, TopicSpec, ensure_topics, topic_specs
from processor.settings import ENV_VARS, load_registry, load_settings
from processor.wiring import build_pipeline
from schemas.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the _*.py helpers next to us

from _core import CoreResult, bench_core, input_records
from _measure import Measured, RunFailedError, leftover_children, run_measured
from _profile import write_reports
from _wire import WireSize, topic_wire_size

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BASELINE = ROOT / "bench" / "_baseline.py"
PIPELINE_LOOP = ROOT / "bench" / "_pipeline_loop.py"
MEMORY_MARKS = (100_000, 1_000_000)
MB = 1024 * 1024

err = Console(stderr=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the worker against a bare aiokafka passthrough.",
    )
    parser.add_argument("--records", type=int, default=200_000, help="raw records to generate")
    parser.add_argument("--partitions", type=int, default=6, help="partitions of every topic")
    parser.add_argument("--seed", type=int, default=7, help="generator seed")
    parser.add_argument("--repeat", type=int, default=1, help="median of K runs of (a), (b), (c)")
    parser.add_argument("--core-only", action="store_true", help="only (c): no broker")
    parser.add_argument(
        "--processes",
        type=int,
        default=os.cpu_count() or 1,
        help="also run the worker as `run --processes N` (default: the cores; 1 skips it)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="one more worker run under pyinstrument"
    )
    parser.add_argument(
        "--memory-check", action="store_true", help="worker RSS after 100k vs 1M records"
    )
    parser.add_argument(
        "--compression",
        choices=["gzip", "snappy", "lz4", "zstd"],
        help="also run the worker with this codec: records/s and bytes on the wire vs none",
    )
    args = parser.parse_args(argv)
    if args.memory_check:
        args.records = max(args.records, MEMORY_MARKS[-1])
    if args.records < 1 or args.partitions < 1 or args.repeat < 1:
        parser.error("--records, --partitions and --repeat must be positive")
    return args


def say(message: str) -> None:
    err.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {message}", soft_wrap=True)


# -- one measured pass ------------------------------------------------------------------------


@dataclass
class Pass:
    """One subprocess run, reduced to the table's numbers."""

    measured: Measured
    #: Output records per input record (1 for the baseline).
    outputs_per_record: float
    identity_events_per_record: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def records_per_s(self) -> float:
        return self.measured.records_per_s

    @property
    def outputs_per_s(self) -> float:
        return self.records_per_s * self.outputs_per_record

    @property
    def identity_events_per_s(self) -> float:
        return self.records_per_s * self.identity_events_per_record


@dataclass
class Bench:
    broker: RunningBroker
    settings: Settings
    total: int
    partitions: int
    workdir: Path
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    #: The worker in exactly-once mode, when the broker has transactions.
    exactly_once: Pass | None = None
    #: `run --processes N` (N = cores) on the same data, when the machine has several cores.
    multi_process: Pass | None = None
    #: The bare aiokafka loop running the same `Pipeline.process`.
    pipeline_loops: list[Pass] = field(default_factory=list)
    #: The worker with `--compression`'s codec.
    compressed: Pass | None = None

    @property
    def raw_partitions(self) -> list[TopicPartition]:
        return [TopicPartition(self.settings.raw_topic, p) for p in range(self.partitions)]

    @property
    def session_timeout_ms(self) -> int:
        # Tansu holds a join for half the session timeout; Apache Kafka refuses sessions
        # under its group.min.session.timeout.ms (6 s by default).
        return 3000 if self.broker.kind == "tansu" else 6000

    @property
    def timeout_s(self) -> float:
        return max(300.0, self.total / 500)

    def base_env(self) -> dict[str, str]:
        """Our environment minus every setting, so nothing outside the bench changes a run."""
        own = set(ENV_VARS.values()) | {"BSUID_CONFIG", "BROKER"}
        return {k: v for k, v in os.environ.items() if k not in own}

    async def create(self, *specs: TopicSpec) -> None:
        await ensure_topics(self.settings, list(specs))

    async def baseline(self, k: int) -> Pass:
        out_topic = f"bench.{self.run_id}.passthrough.{k}"
        group = f"bench.{self.run_id}.baseline.{k}"
        await self.create(TopicSpec(out_topic, self.partitions, dict(LARGE_RECORDS)))
        name = f"baseline-{k}"
        cmd = [sys.executable, str(BASELINE), self.broker.bootstrap_servers]
        cmd += [self.settings.raw_topic, out_topic, group, str(self.total)]
        cmd += [str(self.session_timeout_ms)]
        measured = await run_measured(
            name,
            cmd,
            env=self.base_env(),
            bootstrap_servers=self.broker.bootstrap_servers,
            group=group,
            partitions=self.raw_partitions,
            total=self.total,
            stdout_path=self.workdir / f"{name}.out",
            stderr_path=self.workdir / f"{name}.err",
            timeout_s=self.timeout_s,
        )
        counters = msgspec.json.decode((self.workdir / f"{name}.out").read_bytes().splitlines()[-1])
        return Pass(measured, 1.0, 1.0, extra=counters)

    async def pipeline_loop(self, k: int) -> Pass:
        """The same `Pipeline.process` in a bare aiokafka loop (`_pipeline_loop.py`)."""
        prefix = f"bench.{self.run_id}.loop.{k}"
        outputs = [f"{prefix}.{route}" for route in ("identity", "dropped", "dlq")]
        await self.create(*(TopicSpec(t, self.partitions, dict(LARGE_RECORDS)) for t in outputs))
        group = f"{prefix}.group"
        name = f"pipeline-loop-{k}"
        cmd = [sys.executable, str(PIPELINE_LOOP), self.broker.bootstrap_servers]
        cmd += [self.settings.raw_topic, group, str(self.total), str(self.session_timeout_ms)]
        cmd += [self.settings.numbers, *outputs]
        measured = await run_measured(
            name,
            cmd,
            env=self.base_env() | {"PYTHONPATH": str(ROOT)},
            bootstrap_servers=self.broker.bootstrap_servers,
            group=group,
            partitions=self.raw_partitions,
            total=self.total,
            stdout_path=self.workdir / f"{name}.out",
            stderr_path=self.workdir / f"{name}.err",
            timeout_s=self.timeout_s,
        )
        counters = msgspec.json.decode((self.workdir / f"{name}.out").read_bytes().splitlines()[-1])
        produced = counters["produced"] / max(counters["consumed"], 1)
        return Pass(measured, produced, produced, extra=counters)

    async def worker(
        self,
        k: int | str,
        *,
        profile_to: Path | None = None,
        rss_marks: Sequence[int] = (),
        guarantee: str = "at-least-once",
        processes: int = 1,
        compression: str = "none",
        wire: bool = False,
    ) -> Pass:
        prefix = f"bench.{self.run_id}.{k}"
        run = msgspec.structs.replace(
            self.settings,
            identity_topic=f"{prefix}.identity",
            dropped_topic=f"{prefix}.dropped",
            dlq_topic=f"{prefix}.dlq",
            control_topic=f"{prefix}.control",
            group_id=f"{prefix}.worker",
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=500,
            http_port=0,
            log_format="json",
        )
        for setting in run.__struct_fields__:
            # Topics added since (replay state, ...) are fresh per run too; raw is shared.
            if setting.endswith("_topic") and not getattr(run, setting).startswith("bench."):
                run = msgspec.structs.replace(run, **{setting: f"{prefix}.{setting}"})
        # Every topic the worker expects, as `topics ensure` would create them (the raw one
        # exists and is skipped).
        await ensure_topics(run, topic_specs(run))
        passed = (
            "bootstrap_servers",
            "group_id",
            "numbers",
            "http_port",
            "session_timeout_ms",
            "heartbeat_interval_ms",
            "log_format",
            *(setting for setting in run.__struct_fields__ if setting.endswith("_topic")),
        )
        env = self.base_env() | {ENV_VARS[key]: str(getattr(run, key)) for key in passed}
        env[ENV_VARS["guarantee"]] = guarantee
        # Pinned (the product's default is zstd): the baseline compresses nothing either.
        env[ENV_VARS["compression_type"]] = compression
        group = run.group_id
        cmd = [sys.executable]
        if profile_to is not None:
            cmd += ["-m", "pyinstrument", "-r", "pyisession", "-o", str(profile_to)]
        cmd += ["-m", "processor", "run", "--exit-when-drained", "--processes", str(processes)]
        name = f"worker-{k}"
        measured = await run_measured(
            name,
            cmd,
            env=env,
            bootstrap_servers=self.broker.bootstrap_servers,
            group=group,
            partitions=self.raw_partitions,
            total=self.total,
            stdout_path=self.workdir / f"{name}.out",
            stderr_path=self.workdir / f"{name}.err",
            timeout_s=self.timeout_s * (4 if profile_to else 1),
            rss_marks=rss_marks,
        )
        stopped = _stopped_lines(self.workdir / f"{name}.err")
        processed = sum(int(line.get("records", 0)) for line in stopped) or self.total
        routes: Counter[str] = Counter()
        for line in stopped:
            routes.update(line.get("routes", {}))
        identity = routes.get("identity", 0) + routes.get("dropped", 0)
        if processed != self.total:
            say(f"[yellow]{name} processed {processed:,} records for {self.total:,} inputs[/]")
        extra: dict[str, Any] = {"processed": processed, "routes": routes}
        if wire:
            size = WireSize()
            for topic in (run.identity_topic, run.dropped_topic, run.dlq_topic):
                size.add(await topic_wire_size(self.broker.bootstrap_servers, topic))
            extra["wire"] = size
        return Pass(measured, sum(routes.values()) / processed, identity / processed, extra=extra)


def _stopped_lines(log_path: Path) -> list[dict[str, Any]]:
    """The final JSON log line of each worker process, with its counters."""
    return [
        msgspec.json.decode(line)
        for line in log_path.read_bytes().splitlines()
        if b'"stage stopped"' in line
    ]


# -- orchestration ----------------------------------------------------------------------------


def generate_records(count: int, seed: int) -> list[GeneratedRecord]:
    started = time.perf_counter()
    records = list(generate(count, seed=seed))
    size = sum(len(r.value) for r in records)
    say(
        f"generated {count:,} records ({size / MB:,.0f} MB of bodies) "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return records


def registry_file(workdir: Path) -> Path:
    path = workdir / "numbers.toml"
    path.write_text(demo_registry_toml())
    return path


def run_core(
    records: list[GeneratedRecord], settings: Settings, partitions: int, repeat: int
) -> CoreResult:
    registry = load_registry(settings.numbers)
    inputs = input_records(records, settings.raw_topic, partitions)

    def make_pipeline() -> Pipeline:
        return build_pipeline(settings, registry)

    say("core: Pipeline.process in-process, no-op emit")
    return bench_core(make_pipeline, inputs, repeat)


async def run_broker_passes(
    bench: Bench, records: list[GeneratedRecord], args: argparse.Namespace
) -> tuple[list[Pass], list[Pass], Pass | None, Path | None]:
    settings = bench.settings
    await bench.create(TopicSpec(settings.raw_topic, bench.partitions, dict(LARGE_RECORDS)))
    started = time.perf_counter()
    sent = await publish(
        settings, settings.raw_topic, ((r.key, r.value, r.headers) for r in records)
    )
    say(f"published {sent:,} records in {time.perf_counter() - started:.1f} s")
    marks = MEMORY_MARKS if args.memory_check else ()
    baselines: list[Pass] = []
    workers: list[Pass] = []
    # Interleaved, so slow phases of a noisy machine hit every side alike.
    for k in range(args.repeat):
        say(f"(a) baseline run {k + 1}/{args.repeat}")
        baselines.append(await bench.baseline(k))
        say(f"    {_describe(baselines[-1])}")
        say(f"(a') pipeline loop run {k + 1}/{args.repeat}")
        bench.pipeline_loops.append(await bench.pipeline_loop(k))
        say(f"    {_describe(bench.pipeline_loops[-1])}")
        say(f"(b) worker run {k + 1}/{args.repeat}")
        wire = k == 0 and args.compression is not None
        workers.append(await bench.worker(k, rss_marks=marks, wire=wire))
        say(f"    {_describe(workers[-1])}")
    if args.compression:
        say(f"(b''') worker run, compression {args.compression}")
        bench.compressed = await bench.worker("zip", compression=args.compression, wire=True)
        say(f"    {_describe(bench.compressed)}")
    if bench.broker.has("transactions"):
        # Issue 11: both guarantees on the same data in the same run.
        say("(b') worker run, exactly-once")
        bench.exactly_once = await bench.worker("eos", guarantee="exactly-once")
        say(f"    {_describe(bench.exactly_once)}")
    if args.processes > 1:
        say(f"(b'') worker run, --processes {args.processes}")
        bench.multi_process = await bench.worker("multi", processes=args.processes)
        say(f"    {_describe(bench.multi_process)}")
    profiled: Pass | None = None
    profile_html: Path | None = None
    if args.profile:
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        session = RESULTS / f"worker-profile-{bench.broker.kind}-{stamp}.pyisession"
        say("worker run under pyinstrument (not counted in the table)")
        profiled = await bench.worker("profile", profile_to=session)
        say(f"    {_describe(profiled)}")
        profile_html, text = write_reports(session)
        say(f"profile: {profile_html} and {text}")
    return baselines, workers, profiled, profile_html


def _describe(run: Pass) -> str:
    m = run.measured
    return (
        f"{run.records_per_s:,.0f} records/s over {m.window_s:.1f} s "
        f"(startup {m.startup_s:.1f} s), {m.cpu_s_per_100k:.1f} CPU s/100k, "
        f"peak RSS {m.peak_rss_bytes / MB:.0f} MB"
    )


def _median(runs: Sequence[Pass], value: Callable[[Pass], float]) -> float:
    return float(statistics.median(value(run) for run in runs))


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def render(
    summary: dict[str, Any], core: CoreResult, header: str, repeat: int, console: Console
) -> None:
    table = Table(title=f"bsuid-processor bench on {header}", title_justify="left")
    for column in (
        "run",
        "events/s (input records)",
        "out records/s",
        "CPU s / 100k",
        "peak RSS MB",
        "window s",
    ):
        table.add_column(column, justify="left" if column == "run" else "right")
    if "baseline_events_per_s" in summary:
        median = f" (median of {repeat})" if repeat > 1 else ""
        identity = summary["processor_identity_events_per_s"]
        outputs = summary["processor_outputs_per_s"]
        table.add_row(
            f"baseline{median}",
            _fmt(summary["baseline_events_per_s"]),
            _fmt(summary["baseline_events_per_s"]),
            _fmt(summary["baseline_cpu_s_per_100k"], 1),
            _fmt(summary["baseline_peak_rss_mb"]),
            _fmt(summary["baseline_window_s"], 1),
        )
        if "pipeline_loop_records_per_s" in summary:
            table.add_row(
                f"bare loop + Pipeline.process{median}",
                _fmt(summary["pipeline_loop_records_per_s"]),
                "-",
                _fmt(summary["pipeline_loop_cpu_s_per_100k"], 1),
                _fmt(summary["pipeline_loop_peak_rss_mb"]),
                _fmt(summary["pipeline_loop_window_s"], 1),
            )
        table.add_row(
            f"processor{median}",
            _fmt(summary["processor_events_per_s"]),
            f"{_fmt(identity)} identity + {_fmt(outputs - identity)} dlq",
            _fmt(summary["processor_cpu_s_per_100k"], 1),
            _fmt(summary["peak_rss_mb"]),
            _fmt(summary["processor_window_s"], 1),
        )
    if "processor_multi_records_per_s" in summary:
        table.add_row(
            f"processor, --processes {summary['processor_processes']}",
            _fmt(summary["processor_multi_records_per_s"]),
            "-",
            _fmt(summary["processor_multi_cpu_s_per_100k"], 1),
            _fmt(summary["processor_multi_peak_rss_mb"]),
            "-",
        )
    for label, run in (
        ("core, per core", core.all_records),
        ("core, single-item", core.single_item),
    ):
        table.add_row(
            f"{label} ({run.records:,} records)",
            _fmt(run.records_per_cpu_s),
            f"{_fmt(run.events_per_cpu_s)} identity",
            _fmt(run.cpu_s_per_100k, 1),
            "-",
            _fmt(run.cpu_s, 1),
        )
    console.print(table)
    if "ratio" in summary:
        console.print(
            f"ratio processor / passthrough (input records/s): [bold]{summary['ratio']:.2f}[/bold]"
        )
    if "ratio_vs_pipeline_loop" in summary:
        console.print(
            "ratio processor / bare loop running Pipeline.process (plumbing efficiency): "
            f"[bold]{summary['ratio_vs_pipeline_loop']:.2f}[/bold]; start-up to the first "
            f"commit {summary['processor_startup_s']:.1f} s vs "
            f"{summary['pipeline_loop_startup_s']:.1f} s"
        )
    if "memory_ratio" in summary:
        console.print(
            f"worker RSS at 100k committed: {summary['memory_rss_100k_mb']:.0f} MB, at 1M: "
            f"{summary['memory_rss_1m_mb']:.0f} MB (ratio {summary['memory_ratio']:.2f})"
        )


def summarize(
    args: argparse.Namespace,
    core: CoreResult,
    baselines: Sequence[Pass],
    workers: Sequence[Pass],
    profiled: Pass | None,
    profile_html: Path | None,
    loops: Sequence[Pass] = (),
) -> dict[str, Any]:
    summary: dict[str, Any] = {"records": args.records, "partitions": args.partitions}
    if loops and workers:
        loop_rate = _median(loops, lambda r: r.records_per_s)
        summary |= {
            "pipeline_loop_records_per_s": round(loop_rate),
            "pipeline_loop_cpu_s_per_100k": round(
                _median(loops, lambda r: r.measured.cpu_s_per_100k), 2
            ),
            "pipeline_loop_peak_rss_mb": round(
                max(r.measured.peak_rss_bytes for r in loops) / MB, 1
            ),
            "pipeline_loop_window_s": round(_median(loops, lambda r: r.measured.window_s), 2),
            "pipeline_loop_startup_s": round(_median(loops, lambda r: r.measured.startup_s), 2),
            "ratio_vs_pipeline_loop": round(
                _median(workers, lambda r: r.records_per_s) / loop_rate, 3
            ),
        }
    if baselines and workers:
        base_rate = _median(baselines, lambda r: r.records_per_s)
        proc_rate = _median(workers, lambda r: r.records_per_s)
        summary |= {
            "processor_events_per_s": round(proc_rate),
            "baseline_events_per_s": round(base_rate),
            "ratio": round(proc_rate / base_rate, 3),
            "ratio_vs_passthrough": round(proc_rate / base_rate, 3),
            "processor_records_per_s": round(proc_rate),
            "baseline_records_per_s": round(base_rate),
            "processor_identity_events_per_s": round(
                _median(workers, lambda r: r.identity_events_per_s)
            ),
            "processor_outputs_per_s": round(_median(workers, lambda r: r.outputs_per_s)),
            "processor_cpu_s_per_100k": round(
                _median(workers, lambda r: r.measured.cpu_s_per_100k), 2
            ),
            "baseline_cpu_s_per_100k": round(
                _median(baselines, lambda r: r.measured.cpu_s_per_100k), 2
            ),
            "peak_rss_mb": round(max(r.measured.peak_rss_bytes for r in workers) / MB, 1),
            "baseline_peak_rss_mb": round(
                max(r.measured.peak_rss_bytes for r in baselines) / MB, 1
            ),
            "processor_window_s": round(_median(workers, lambda r: r.measured.window_s), 2),
            "baseline_window_s": round(_median(baselines, lambda r: r.measured.window_s), 2),
            "processor_startup_s": round(_median(workers, lambda r: r.measured.startup_s), 2),
            "baseline_startup_s": round(_median(baselines, lambda r: r.measured.startup_s), 2),
            "processor_lifetime_cpu_s": round(
                _median(workers, lambda r: r.measured.lifetime_cpu_s), 2
            ),
            "runs": {
                "baseline_records_per_s": [round(r.records_per_s) for r in baselines],
                "processor_records_per_s": [round(r.records_per_s) for r in workers],
            },
        }
        if args.memory_check:
            at_100k = statistics.median(r.measured.rss_at.get(MEMORY_MARKS[0], 0) for r in workers)
            at_1m = statistics.median(r.measured.rss_at.get(MEMORY_MARKS[1], 0) for r in workers)
            summary |= {
                "memory_rss_100k_mb": round(at_100k / MB, 1),
                "memory_rss_1m_mb": round(at_1m / MB, 1),
                "memory_ratio": round(at_1m / at_100k, 3) if at_100k else None,
            }
    if profiled is not None:
        summary["profiled_processor_records_per_s"] = round(profiled.records_per_s)
        summary["profile_html"] = str(profile_html)
    summary |= {
        "core_events_per_s_per_core": round(core.all_records.records_per_cpu_s),
        "core_identity_events_per_s_per_core": round(core.all_records.events_per_cpu_s),
        "core_single_item_events_per_s_per_core": round(core.single_item.records_per_cpu_s),
        "core_single_item_records": core.single_item.records,
    }
    return summary


def compression_summary(codec: str, plain: Pass, compressed: Pass) -> dict[str, Any]:
    """(b), compression none, against the `--compression` run: rate, CPU, bytes on the wire."""
    none_wire: WireSize = plain.extra["wire"]
    codec_wire: WireSize = compressed.extra["wire"]
    return {
        "codec": codec,
        "none_records_per_s": round(plain.records_per_s),
        f"{codec}_records_per_s": round(compressed.records_per_s),
        "none_cpu_s_per_100k": round(plain.measured.cpu_s_per_100k, 2),
        f"{codec}_cpu_s_per_100k": round(compressed.measured.cpu_s_per_100k, 2),
        "none_wire_bytes": none_wire.bytes,
        f"{codec}_wire_bytes": codec_wire.bytes,
        "output_records": codec_wire.records,
        "wire_ratio": round(codec_wire.bytes / max(none_wire.bytes, 1), 3),
        "rate_ratio": round(compressed.records_per_s / plain.records_per_s, 3),
    }


def render_compression(found: dict[str, Any], console: Console) -> None:
    codec = found["codec"]
    table = Table(
        title="compression: worker output on the wire (identity + dropped + dead-letter topics)",
        title_justify="left",
    )
    for column in ("compression_type", "input records/s", "CPU s / 100k", "MB on the wire"):
        table.add_column(column, justify="left" if column == "compression_type" else "right")
    for name in ("none", codec):
        table.add_row(
            name,
            _fmt(found[f"{name}_records_per_s"]),
            _fmt(found[f"{name}_cpu_s_per_100k"], 1),
            _fmt(found[f"{name}_wire_bytes"] / MB, 1),
        )
    console.print(table)
    console.print(
        f"{codec}: {found['wire_ratio']:.2f} x the bytes, {found['rate_ratio']:.2f} x the rate"
        f" of none ({found['output_records']:,} output records each)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load_at_start = round(os.getloadavg()[0], 2)
    # structlog's default prints to stdout, which holds only the table and the JSON line.
    configure_logging("console", "warning")
    workdir = Path(tempfile.mkdtemp(prefix="bsuid-bench-"))
    records = generate_records(args.records, args.seed)
    broker: RunningBroker | None = None
    baselines: list[Pass] = []
    workers: list[Pass] = []
    profiled: Pass | None = None
    profile_html: Path | None = None
    exactly_once: Pass | None = None
    multi_process: Pass | None = None
    loops: list[Pass] = []
    bench_compressed: Pass | None = None
    header = "no broker (--core-only)"
    succeeded = False
    try:
        run_id = uuid.uuid4().hex[:8]
        flags: dict[str, Any] = {
            "raw_topic": f"bench.{run_id}.raw",
            "numbers": str(registry_file(workdir)),
            "topic_partitions": args.partitions,
        }
        if not args.core_only:
            say("starting the broker")
            broker = start_broker(prefer="tansu")
            header = broker.describe()
            say(f"broker: {header}")
            flags["bootstrap_servers"] = broker.bootstrap_servers
        settings = load_settings(flags, environ={})
        if broker is not None:
            bench = Bench(broker, settings, args.records, args.partitions, workdir, run_id)
            baselines, workers, profiled, profile_html = asyncio.run(
                run_broker_passes(bench, records, args)
            )
            exactly_once = bench.exactly_once
            multi_process = bench.multi_process
            loops = bench.pipeline_loops
            bench_compressed = bench.compressed
            # The core pass is CPU-bound: an idle broker still takes memory, not cycles.
            broker.stop()
            broker = None
        core = run_core(records, settings, args.partitions, args.repeat)
        succeeded = True
    except RunFailedError as exc:
        err.print("[red]run failed:[/red]")
        err.print(str(exc), markup=False, highlight=False, soft_wrap=True)
        return 1
    finally:
        if broker is not None:
            broker.stop()
        leftovers = leftover_children()
        if not leftovers:
            say("no leftover processes")
        for proc in leftovers:
            err.print(f"[red]leftover process {proc.pid}: {' '.join(proc.cmdline())}[/red]")
            proc.kill()
        if succeeded:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            err.print(f"logs kept in {workdir}")
    summary = summarize(args, core, baselines, workers, profiled, profile_html, loops)
    # A 2-core machine shared with other jobs: the load says how much to trust a run.
    summary = {"broker": header, **summary, "load_avg_1m_at_start": load_at_start}
    if multi_process is not None and workers:
        one = _median(workers, lambda r: r.records_per_s)
        summary |= {
            "processor_processes": args.processes,
            "processor_multi_records_per_s": round(multi_process.records_per_s),
            "processor_multi_vs_one": round(multi_process.records_per_s / one, 3),
            "processor_multi_cpu_s_per_100k": round(multi_process.measured.cpu_s_per_100k, 2),
            "processor_multi_peak_rss_mb": round(multi_process.measured.peak_rss_bytes / MB, 1),
        }
        say(
            f"--processes {args.processes}: {multi_process.records_per_s:,.0f} records/s, "
            f"{summary['processor_multi_vs_one']:.2f} x one process "
            f"(no matching multi-process baseline: the ratio above is one process each)"
        )
    if bench_compressed is not None and workers:
        summary["compression"] = compression_summary(args.compression, workers[0], bench_compressed)
    if exactly_once is not None and workers:
        at_least_once = _median(workers, lambda r: r.records_per_s)
        summary["exactly_once_records_per_s"] = round(exactly_once.records_per_s)
        summary["exactly_once_vs_at_least_once"] = round(
            exactly_once.records_per_s / at_least_once, 3
        )
        say(
            f"exactly-once: {exactly_once.records_per_s:,.0f} records/s, "
            f"{summary['exactly_once_vs_at_least_once']:.2f} x at-least-once"
        )
    out = Console(width=max(Console().width, 150))
    render(summary, core, header, args.repeat, out)
    if "compression" in summary:
        render_compression(summary["compression"], out)
    RESULTS.mkdir(parents=True, exist_ok=True)
    kind = header.split(" ", 1)[0] if not args.core_only else "core"
    line = msgspec.json.encode(summary).decode()
    (RESULTS / f"bench-{kind}-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(line + "\n")
    print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
