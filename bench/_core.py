"""(c) of `bench.py`: the pure pipeline in this process, no Kafka, per CPU second.

`Pipeline.process_batch` runs over the same generated records the broker runs use, in batches
of `BATCH` records as the worker hands them over (one partition's share of a fetch), with a
no-op `emit` that only counts (`--batch 1`: `Pipeline.process` record by record). The clock
is `time.process_time()` (this process's CPU), so the rate is records per second per core
whatever else the machine is doing.

"Single-item bodies" are the records whose processing emits exactly one identity or dropped
event and no dead letter: one message or one status per webhook, the bulk of real traffic.
A first untimed pass finds them. The pipeline's caches (phones, ...) are cleared before each
timed pass, because the worker sees each record once and starts cold too.

Run alone, it is the core pass without `bench.py`'s broker runs, on a traffic mix of one's
choice (`--formats meta,connectly` is the mix before Vonage and WATI existed, to compare the
core across that change on the same records):

    .venv/bin/python bench/_core.py [--records N] [--seed S] [--repeat K] [--formats a,b]
                                    [--batch B]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import msgspec

from processor.core.partitioner import partition_for
from processor.core.pipeline import Pipeline
from processor.core.records import InputRecord, OutputRecord
from processor.core.registry import Registry
from processor.devkit.generate import FORMATS, GeneratedRecord, demo_registry_toml, generate
from schemas.registry import RegistryFile

#: Records per `process_batch` call: about one partition's share of the worker's fetch
#: (`max_batch_records` 5000 over 6 partitions).
BATCH = 800


@dataclass
class CoreRun:
    records: int
    outputs: int
    identity_events: int
    cpu_s: float
    wall_s: float

    @property
    def records_per_cpu_s(self) -> float:
        return self.records / self.cpu_s

    @property
    def events_per_cpu_s(self) -> float:
        return self.identity_events / self.cpu_s

    @property
    def cpu_s_per_100k(self) -> float:
        return self.cpu_s / self.records * 100_000


@dataclass
class CoreResult:
    all_records: CoreRun
    single_item: CoreRun


def input_records(
    generated: Sequence[GeneratedRecord], topic: str, partitions: int, now_ms: int | None = None
) -> list[InputRecord]:
    """The records as the worker would build them from the raw topic (same partitioning).
    Their Kafka time is `now_ms`, or now."""
    if now_ms is None:
        now_ms = int(time.time() * 1000)
    next_offset = [0] * partitions
    records: list[InputRecord] = []
    for index, gen in enumerate(generated):
        partition = (
            partition_for(gen.key, partitions) if gen.key is not None else index % partitions
        )
        offset = next_offset[partition]
        next_offset[partition] += 1
        records.append(
            InputRecord(
                value=gen.value,
                key=gen.key,
                headers=list(gen.headers),
                topic=topic,
                partition=partition,
                offset=offset,
                timestamp_ms=now_ms,
            )
        )
    return records


def clear_caches() -> None:
    """Every functools cache of the pure pipeline, whatever functions have one today."""
    for name, module in list(sys.modules.items()):
        if name.startswith("processor.core.") and module is not None:
            for value in vars(module).values():
                clear = getattr(value, "cache_clear", None)
                if callable(clear):
                    clear()


def _timed(
    make_pipeline: Callable[[], Pipeline], records: Sequence[InputRecord], batch: int
) -> CoreRun:
    pipeline = make_pipeline()
    outputs = 0

    def emit(_output: OutputRecord) -> None:
        nonlocal outputs
        outputs += 1

    batches = [records[start : start + batch] for start in range(0, len(records), batch)]
    process, process_batch = pipeline.process, pipeline.process_batch
    clear_caches()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if batch == 1:
        for record in records:
            process(record, emit)
    else:
        for chunk in batches:
            process_batch(chunk, emit)
    cpu1, wall1 = time.process_time(), time.perf_counter()
    routes = pipeline.stats.by_route()
    return CoreRun(
        records=len(records),
        outputs=outputs,
        identity_events=routes.get("identity", 0) + routes.get("dropped", 0),
        cpu_s=cpu1 - cpu0,
        wall_s=wall1 - wall0,
    )


def single_item_records(
    make_pipeline: Callable[[], Pipeline], records: Sequence[InputRecord]
) -> list[InputRecord]:
    pipeline = make_pipeline()
    selected: list[InputRecord] = []
    for record in records:
        emitted: list[OutputRecord] = []
        pipeline.process(record, emitted.append)
        if len(emitted) == 1 and emitted[0].route != "dlq":
            selected.append(record)
    return selected


def _median_run(runs: list[CoreRun]) -> CoreRun:
    return sorted(runs, key=lambda run: run.cpu_s)[len(runs) // 2]


def bench_core(
    make_pipeline: Callable[[], Pipeline],
    records: Sequence[InputRecord],
    repeat: int = 1,
    batch: int = BATCH,
) -> CoreResult:
    """`make_pipeline()` gives a fresh Pipeline (fresh stats) for each pass; the median of
    `repeat` passes of each kind, alternated so a noisy neighbour hits both alike."""
    singles = single_item_records(make_pipeline, records)  # also warms up imports and code
    everything: list[CoreRun] = []
    single: list[CoreRun] = []
    for _ in range(repeat):
        everything.append(_timed(make_pipeline, records, batch))
        single.append(_timed(make_pipeline, singles, batch))
    return CoreResult(_median_run(everything), _median_run(single))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The pure pipeline per CPU second, no broker.")
    parser.add_argument("--records", type=int, default=200_000, help="raw records to generate")
    parser.add_argument("--seed", type=int, default=7, help="generator seed")
    parser.add_argument("--repeat", type=int, default=1, help="median of K passes")
    parser.add_argument(
        "--formats", default=",".join(FORMATS), help=f"comma-separated, of {','.join(FORMATS)}"
    )
    parser.add_argument(
        "--batch", type=int, default=BATCH, help="records per process_batch (1: process)"
    )
    args = parser.parse_args(argv)
    formats = tuple(args.formats.split(","))
    records = list(generate(args.records, seed=args.seed, formats=formats))
    entries = msgspec.toml.decode(demo_registry_toml(), type=RegistryFile).number
    registry = Registry(entries)
    inputs = input_records(records, "bench.raw", 6)
    result = bench_core(lambda: Pipeline(registry=registry), inputs, args.repeat, args.batch)
    summary = {
        "formats": formats,
        "records": args.records,
        "repeat": args.repeat,
        "batch": args.batch,
        "core_events_per_s_per_core": round(result.all_records.records_per_cpu_s),
        "core_identity_events_per_s_per_core": round(result.all_records.events_per_cpu_s),
        "core_single_item_events_per_s_per_core": round(result.single_item.records_per_cpu_s),
        "core_single_item_records": result.single_item.records,
    }
    print(msgspec.json.encode(summary).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
