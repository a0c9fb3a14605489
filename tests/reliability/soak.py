"""`make soak`: the reliability scenarios at large sizes, and the figures of docs/reliability.md.

    python -m tests.reliability.soak              # everything, ~10-15 minutes on 2 cores
    python -m tests.reliability.soak --quick      # the CI sizes, to try it out
    python -m tests.reliability.soak --only fuzz --only sigkill

Each scenario's invariants are checked as in the pytest suite; a violation is reported and
makes the exit status 1, after every scenario ran. The broker for the shared scenarios is
picked as in the test suites (docs/brokers.md); the stall and loss scenarios start their own.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from processor.devkit.brokers.apache_kafka import java_and_maven_available
from processor.devkit.brokers.base import RunningBroker
from processor.devkit.brokers.select import start_broker
from tests.reliability.fuzz import FuzzReport, run_fuzz
from tests.reliability.harness import Figures
from tests.reliability.scenarios import (
    LOST_DATA,
    BrokerKind,
    broker_loss,
    broker_stall,
    large_bodies,
    log_hygiene,
    output_refused,
    rebalance_churn,
    sigkill_loop,
)


@dataclass(frozen=True)
class Sizes:
    fuzz_inputs: int
    fuzz_processes: int
    fuzz_hypothesis: int
    kill_records: int
    kills: int
    stall_records: int
    stall_s: float
    loss_records: int
    churn_records: int
    churn_changes: int
    log_records: int


SOAK = Sizes(
    fuzz_inputs=1_000_000,
    fuzz_processes=2,
    fuzz_hypothesis=4000,
    kill_records=100_000,
    kills=16,
    stall_records=20_000,
    stall_s=15.0,
    loss_records=20_000,
    churn_records=30_000,
    churn_changes=20,
    log_records=20_000,
)
QUICK = Sizes(
    fuzz_inputs=20_000,
    fuzz_processes=1,
    fuzz_hypothesis=1000,
    kill_records=5000,
    kills=4,
    stall_records=3000,
    stall_s=12.0,
    loss_records=3000,
    churn_records=4000,
    churn_changes=6,
    log_records=3000,
)


@dataclass
class Outcome:
    name: str
    figures: list[Figures | FuzzReport]
    failure: str = ""


def _fuzz_shard(args: tuple[int, int, int]) -> FuzzReport:
    count, seed_value, hypothesis = args
    return run_fuzz(count, seed_value=seed_value, hypothesis_examples=hypothesis)


def fuzz(sizes: Sizes) -> FuzzReport:
    """The fuzz run, split over processes (each its own seed and hypothesis examples)."""
    shards = sizes.fuzz_processes
    share = sizes.fuzz_inputs // shards
    jobs = [
        (
            share + (sizes.fuzz_inputs - share * shards if i == 0 else 0),
            1000 + i,
            sizes.fuzz_hypothesis,
        )
        for i in range(shards)
    ]
    report = FuzzReport()
    started = time.monotonic()
    if shards == 1:
        report.merge(_fuzz_shard(jobs[0]))
    else:
        with ProcessPoolExecutor(shards, mp_context=multiprocessing.get_context("spawn")) as pool:
            for part in pool.map(_fuzz_shard, jobs):
                report.merge(part)
    report.seconds = time.monotonic() - started
    assert report.inputs == sizes.fuzz_inputs
    assert report.crashes == 0, report.failures
    assert report.unaccounted == 0, report.failures
    assert report.unsigned_published == 0, report.failures
    return report


async def stall(kind: BrokerKind, workdir: Path, sizes: Sizes) -> Figures:
    figures, facts = await broker_stall(
        kind, workdir, records=sizes.stall_records, stall_s=sizes.stall_s
    )
    figures.check()
    assert facts.not_ready_after_stop_s is not None, "/readyz stayed 200 through the stall"
    assert facts.failing["broker_reachable"] > 0
    assert facts.worker_pid_kept
    assert facts.exit_code == 0
    return figures


async def loss(kind: BrokerKind, recreate: bool, workdir: Path, sizes: Sizes) -> Figures:
    figures, facts = await broker_loss(kind, workdir, records=sizes.loss_records, recreate=recreate)
    assert facts.exit_code == 1
    assert facts.error_lines == 1
    assert facts.last_line.startswith("Error: ")
    assert LOST_DATA in facts.last_line
    assert set(facts.committed_on_new_broker.values()) == {-1}, facts.committed_on_new_broker
    assert facts.not_ready_seen or recreate
    figures.check()
    return figures


async def refused(broker: RunningBroker, workdir: Path) -> Figures:
    figures, facts = await output_refused(broker, workdir, records=5000)
    assert facts.exit_code == 1
    assert facts.error_lines == 1
    assert "MessageSizeTooLargeError" in facts.last_line
    assert facts.committed_after_failure[facts.big_partition] <= facts.big_offset
    assert not facts.big_in_dlq_before_fix
    assert facts.restart_exit_code == 0
    figures.check()
    return figures


async def logs(broker: RunningBroker, workdir: Path, sizes: Sizes) -> Figures:
    figures, control_errors = await log_hygiene(broker, workdir, records=sizes.log_records)
    figures.check()
    assert control_errors == 3
    return figures


async def main(sizes: Sizes, only: set[str], workdir: Path) -> list[Outcome]:
    outcomes: list[Outcome] = []

    async def run(name: str, job: Callable[[], Awaitable[list[Figures | FuzzReport]]]) -> None:
        if only and name not in only:
            return
        print(f"\n=== {name} ...", flush=True)
        started = time.monotonic()
        try:
            figures = await job()
        except (AssertionError, Exception) as exc:
            outcomes.append(Outcome(name, [], f"{type(exc).__name__}: {exc}"))
            traceback.print_exc()
            print(f"=== {name} FAILED after {time.monotonic() - started:.0f} s", flush=True)
            return
        outcomes.append(Outcome(name, figures))
        for item in figures:
            print(item.line(), flush=True)

    async def fuzz_job() -> list[Figures | FuzzReport]:
        return [await asyncio.to_thread(fuzz, sizes)]

    await run("fuzz", fuzz_job)
    kinds: list[BrokerKind] = ["kafka", "tansu"] if java_and_maven_available() else ["tansu"]

    async def stall_job() -> list[Figures | FuzzReport]:
        return [await stall(kind, workdir / f"stall-{kind}", sizes) for kind in kinds]

    await run("stall", stall_job)
    for kind in kinds:
        for recreate in (False, True):

            async def loss_job(
                kind: BrokerKind = kind, recreate: bool = recreate
            ) -> list[Figures | FuzzReport]:
                return [await loss(kind, recreate, workdir / f"loss-{kind}-{recreate}", sizes)]

            await run("loss", loss_job)
    needs_broker = {"sigkill", "churn", "refused", "large", "logs"}
    if only and not (only & needs_broker):
        return outcomes
    broker = start_broker()
    print(f"shared scenarios on {broker.describe()}", flush=True)
    try:

        async def kill_job() -> list[Figures | FuzzReport]:
            figures = await sigkill_loop(
                broker, workdir / "sigkill", records=sizes.kill_records, kills=sizes.kills
            )
            figures.check()
            return [figures]

        async def churn_job() -> list[Figures | FuzzReport]:
            figures = await rebalance_churn(
                broker,
                workdir / "churn",
                records=sizes.churn_records,
                changes=sizes.churn_changes,
                interval_s=3.0,
            )
            figures.check()
            return [figures]

        async def refused_job() -> list[Figures | FuzzReport]:
            if broker.kind == "tansu":
                raise AssertionError("needs Apache Kafka (max.message.bytes, alter_configs)")
            return [await refused(broker, workdir / "refused")]

        async def large_job() -> list[Figures | FuzzReport]:
            figures = await large_bodies(broker, workdir / "large")
            figures.check()
            assert figures.dead_letters["too_large"] == 1
            return [figures]

        async def logs_job() -> list[Figures | FuzzReport]:
            return [await logs(broker, workdir / "logs", sizes)]

        await run("sigkill", kill_job)
        await run("churn", churn_job)
        await run("refused", refused_job)
        await run("large", large_job)
        await run("logs", logs_job)
    finally:
        broker.stop()
    return outcomes


def table(outcomes: list[Outcome]) -> str:
    """The docs/reliability.md table: one row per scenario run."""
    rows = [
        "| test | size | inputs | kills | stalls | lost | duplicates | dead letters by code | "
        "log lines scanned / leaks | time |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for outcome in outcomes:
        if outcome.failure:
            rows.append(f"| {outcome.name} | FAILED: {outcome.failure[:80]} | | | | | | | | |")
        rows.extend(_row(item) for item in outcome.figures)
    return "\n".join(rows)


def _codes(codes: Counter[str]) -> str:
    return ", ".join(f"{code} {count:,}" for code, count in sorted(codes.items())) or "-"


def _row(item: Figures | FuzzReport) -> str:
    if isinstance(item, FuzzReport):
        return (
            f"| fuzz (pure pipeline) | {item.inputs:,} inputs | {item.inputs:,} | - | - | "
            f"0 unaccounted, {item.crashes} crashes, {item.unsigned_published} unsigned "
            f"published | - | {_codes(item.dead_letters)} | - | {item.seconds:.0f} s |"
        )
    return (
        f"| {item.name} | {item.size} | {item.inputs:,} | {item.kills} | {item.stalls} | "
        f"{item.lost} | {item.duplicates:,} | {_codes(item.dead_letters)} | "
        f"{item.log_lines:,} / {len(item.leaks)} | {item.seconds:.0f} s |"
    )


def cli() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.soak")
    parser.add_argument("--quick", action="store_true", help="the CI sizes")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        choices=["fuzz", "stall", "loss", "sigkill", "churn", "refused", "large", "logs"],
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sizes = QUICK if args.quick else SOAK
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bsuid-soak-") as tmp:
        workdir = Path(tmp)
        for name in ("sigkill", "churn", "refused", "large", "logs"):
            (workdir / name).mkdir()
        for sub in ("stall-kafka", "stall-tansu"):
            (workdir / sub).mkdir()
        for kind in ("kafka", "tansu"):
            for recreate in (False, True):
                (workdir / f"loss-{kind}-{recreate}").mkdir()
        outcomes = asyncio.run(main(sizes, set(args.only), workdir))
    total = time.monotonic() - started
    print("\n" + table(outcomes))
    print(f"\n`make soak` on {os.cpu_count()} cores: {total / 60:.1f} minutes in total")
    failed = [o for o in outcomes if o.failure]
    for outcome in failed:
        print(f"FAILED {outcome.name}: {outcome.failure}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(cli())
