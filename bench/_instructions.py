"""Instructions per record of the pure pipeline, counted by valgrind (deterministic, unlike
time on a VM whose speed drifts by +-25% between minutes).

    .venv/bin/python bench/_instructions.py [--records 50000] [--entry process|batch]

The first `--records` records of the bench data set (`generate(200_000, seed=7)`, at the
coordinates `_core.py`'s `input_records` gives them, demo registry) are written to a file once;
then this script runs itself twice under `valgrind --tool=callgrind`: once only loading them,
once loading them and running one cold pass of the pipeline (fresh Pipeline, caches cleared,
as in `_core.py`). The difference of the two instruction totals, divided by the records, is
the pipeline's cost per record, start-up and loading excluded. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _core import BATCH, clear_caches, input_records

from processor.core.pipeline import Pipeline
from processor.core.records import InputRecord, OutputRecord
from processor.core.registry import Registry
from processor.devkit.generate import demo_registry_toml, generate
from schemas.registry import RegistryFile

#: The bench data set, whose first records are measured (its customer pool, its mix).
BENCH_RECORDS = 200_000
_TOTALS = re.compile(rb"^(?:summary|totals): (\d+)", re.M)


def _registry() -> Registry:
    return Registry(msgspec.toml.decode(demo_registry_toml(), type=RegistryFile).number)


def prepare(path: Path, count: int) -> None:
    generated = generate(BENCH_RECORDS, seed=7)
    records = input_records(list(generated)[:count], "bench.raw", 6, now_ms=1_782_000_000_000)
    path.write_bytes(msgspec.msgpack.encode(records))


def run_pass(path: Path, entry: str) -> None:
    """Load the records; with an entry, one cold pass of the pipeline over them."""
    records = msgspec.msgpack.decode(path.read_bytes(), type=list[InputRecord])
    if entry == "none":
        return
    pipeline = Pipeline(registry=_registry())
    outputs: list[OutputRecord] = []
    clear_caches()
    if entry == "batch":
        for start in range(0, len(records), BATCH):
            pipeline.process_batch(records[start : start + BATCH], outputs.append)
    else:
        process, emit = pipeline.process, outputs.append
        for record in records:
            process(record, emit)


def callgrind(script_args: list[str], workdir: Path, name: str) -> int:
    out = workdir / f"callgrind.{name}"
    cmd = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        sys.executable,
        __file__,
        *script_args,
    ]
    env = os.environ | {"PYTHONHASHSEED": "0"}
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    match = _TOTALS.search(out.read_bytes())
    if match is None:
        raise RuntimeError(f"no instruction total in {out}")
    return int(match.group(1))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--entry", choices=["process", "batch"], default="process")
    parser.add_argument("--run", help=argparse.SUPPRESS)  # internal: the measured child
    parser.add_argument("--pass", dest="pass_", default="none", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run:
        run_pass(Path(args.run), args.pass_)
        return 0
    with tempfile.TemporaryDirectory(prefix="bsuid-instr-") as tmp:
        workdir = Path(tmp)
        data = workdir / "records.msgpack"
        prepare(data, args.records)
        started = time.perf_counter()
        base = callgrind(["--run", str(data)], workdir, "load")
        full = callgrind(["--run", str(data), "--pass", args.entry], workdir, "pass")
    summary = {
        "records": args.records,
        "entry": args.entry,
        "instructions_per_record": round((full - base) / args.records),
        "instructions_load_only": base,
        "instructions_with_pass": full,
        "valgrind_s": round(time.perf_counter() - started, 1),
    }
    print(msgspec.json.encode(summary).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
