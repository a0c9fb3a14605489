"""SHA-256 digests of everything the pipeline gives users, over fixed inputs (golden test).

Each data set runs through a fresh `Pipeline` and is reduced to two digests: one of every
output in order (route, key, headers, value bytes: what lands on a topic, and where, since the
route picks the topic and the key the partition), one of the stats the worker turns into
metrics and summary lines. `tests/golden/outputs.sha256` holds the expected digests;
regenerate them only on purpose (README.md beside this file):

    .venv/bin/python -m tests.golden.digest [--write] [SET ...]

Data sets:

- `fixtures`: every `tests/fixtures/webhooks/**/*.json` against `tests/fixtures/numbers.toml`,
  once without headers (format told by shape) and once labelled with `webhook-source`.
- `signed`: 5k generated records signed by every provider, verified by a pipeline that has the
  secrets; halfway through, the registry learns an enablement change that takes effect inside
  the stream (old events stay gated as they were, newer ones by the new state).
- `bench`: `generate(200_000, seed=7)` with the demo registry, at the coordinates
  `bench/_core.py`'s `input_records` gives them (topic `bench.raw`, 6 partitions), with a fixed
  Kafka timestamp (bodies without a time fall back to it).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from processor.core.partitioner import partition_for
from processor.core.pipeline import Pipeline
from processor.core.records import InputRecord, OutputRecord
from processor.core.registry import NumberState, Registry
from processor.core.signature import (
    CONNECTLY_HEADER,
    META_HEADER,
    VONAGE_HEADER,
    SigningSecrets,
)
from processor.devkit.generate import demo_registry_toml, generate
from schemas.registry import RegistryFile

HERE = Path(__file__).parent
DIGESTS = HERE / "outputs.sha256"
FIXTURES = HERE.parent / "fixtures"
#: Kafka record time of every input: 2026-06-21T00:00:00Z, fixed so digests do not drift.
TIMESTAMP_MS = 1_782_000_000_000
BENCH_RECORDS = 200_000
SIGNED_RECORDS = 5_000
#: 32 bytes each: PyJWT warns (an error under pytest) about shorter HMAC keys.
_SECRETS = SigningSecrets(meta=b"m" * 32, connectly=b"c" * 32, vonage=b"v" * 32)

#: A run of the pipeline over a data set: feeds every record to `pipeline` with `emit`.
Runner = Callable[[Pipeline, Sequence[InputRecord], Callable[[OutputRecord], None]], None]
_SIGNATURE_HEADERS = (META_HEADER, CONNECTLY_HEADER, VONAGE_HEADER)


def one_by_one(
    pipeline: Pipeline, records: Sequence[InputRecord], emit: Callable[[OutputRecord], None]
) -> None:
    for record in records:
        pipeline.process(record, emit)


def in_batches(
    pipeline: Pipeline, records: Sequence[InputRecord], emit: Callable[[OutputRecord], None]
) -> None:
    """As the worker feeds it: fetched batches (of uneven sizes here, 1 to 997 records)."""
    start, size = 0, 1
    while start < len(records):
        pipeline.process_batch(records[start : start + size], emit, _raise)
        start, size = start + size, size * 7 % 997 + 1


def _raise(record: InputRecord, exc: Exception) -> None:
    raise AssertionError(f"the pipeline failed on {record.topic}/{record.offset}") from exc


#: Every entry point that feeds the pipeline, by name: each must give the same digests.
RUNNERS: dict[str, Runner] = {"process": one_by_one, "process_batch": in_batches}


@dataclass
class DataSet:
    name: str
    pipeline: Callable[[], Pipeline]
    #: Batches of records, fed in order; `between` runs after each batch but the last.
    batches: list[list[InputRecord]]
    between: Callable[[Pipeline], None] | None = None


@dataclass(frozen=True)
class Digest:
    name: str
    records: int
    outputs: int
    outputs_sha256: str
    stats_sha256: str

    def line(self) -> str:
        return (
            f"{self.name} records={self.records} outputs={self.outputs} "
            f"outputs_sha256={self.outputs_sha256} stats_sha256={self.stats_sha256}"
        )


def _field(hasher: hashlib._Hash, data: bytes | None) -> None:
    # Length-prefixed, so no two different outputs can hash alike by shifting bytes.
    if data is None:
        hasher.update(b"\xff\xff\xff\xff")
        return
    hasher.update(len(data).to_bytes(4, "big"))
    hasher.update(data)


def digest(data: DataSet, run: Runner = one_by_one) -> Digest:
    pipeline = data.pipeline()
    hasher = hashlib.sha256()
    outputs = 0

    def emit(output: OutputRecord) -> None:
        nonlocal outputs
        outputs += 1
        _field(hasher, output.route.encode())
        _field(hasher, output.key)
        hasher.update(len(output.headers).to_bytes(4, "big"))
        for name, value in output.headers:
            _field(hasher, name.encode())
            _field(hasher, value)
        _field(hasher, output.value)

    for index, batch in enumerate(data.batches):
        if index and data.between is not None:
            data.between(pipeline)
        run(pipeline, batch, emit)
    stats = pipeline.stats
    counted = {
        "records": stats.records,
        "events": sorted([*key, count] for key, count in stats.events.items()),
        "dead_letters": sorted(stats.dead_letters.items()),
        "skips": sorted(stats.skips.items()),
        "skipped_changes": sorted(stats.skipped_changes.items()),
        "legacy_bsuids": stats.legacy_bsuids,
        "formats": sorted(stats.formats.items()),
    }
    return Digest(
        name=data.name,
        records=sum(len(batch) for batch in data.batches),
        outputs=outputs,
        outputs_sha256=hasher.hexdigest(),
        stats_sha256=hashlib.sha256(msgspec.json.encode(counted)).hexdigest(),
    )


def _registry(toml: str) -> Registry:
    return Registry(msgspec.convert(tomllib.loads(toml), RegistryFile).number)


def generated_inputs(
    raw: Iterable[tuple[bytes | None, bytes, list[tuple[str, bytes]]]],
    topic: str = "bench.raw",
    partitions: int = 6,
) -> list[InputRecord]:
    """Coordinates as `bench/_core.py`'s `input_records` gives them (keyed: the Java
    partitioner; keyless: round robin by index), with the fixed `TIMESTAMP_MS`."""
    offsets = [0] * partitions
    records = []
    for index, (key, value, headers) in enumerate(raw):
        partition = partition_for(key, partitions) if key is not None else index % partitions
        records.append(
            InputRecord(
                value=value,
                key=key,
                headers=list(headers),
                topic=topic,
                partition=partition,
                offset=offsets[partition],
                timestamp_ms=TIMESTAMP_MS,
            )
        )
        offsets[partition] += 1
    return records


def fixtures_set() -> DataSet:
    registry = _registry((FIXTURES / "numbers.toml").read_text())
    paths = sorted((FIXTURES / "webhooks").glob("**/*.json"))
    records: list[InputRecord] = []
    for labelled in (False, True):
        for path in paths:
            provider = path.stem.split("_", 1)[0]
            headers = [("webhook-source", provider.encode())] if labelled else []
            records.append(
                InputRecord(
                    value=path.read_bytes(),
                    key=path.stem.encode(),
                    headers=headers,
                    topic="whatsapp.webhooks.raw",
                    partition=0,
                    offset=len(records),
                    timestamp_ms=TIMESTAMP_MS,
                )
            )
    return DataSet("fixtures", lambda: Pipeline(registry=registry), [records])


def _tampered(index: int, headers: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Every 50th record's signature is wrong: `bad_signature` dead letters too."""
    if index % 50:
        return headers
    return [(name, b"sha256=0" if name in _SIGNATURE_HEADERS else value) for name, value in headers]


def signed_set() -> DataSet:
    raw = generate(SIGNED_RECORDS, seed=11, signing=_SECRETS, malformed_ratio=0.05)
    records = generated_inputs((r.key, r.value, _tampered(i, r.headers)) for i, r in enumerate(raw))
    half = len(records) // 2

    def make() -> Pipeline:
        return Pipeline(registry=_registry(demo_registry_toml()), secrets=_SECRETS)

    def enable_and_disable(pipeline: Pipeline) -> None:
        # Number 2 (+15551230002, not enabled) is enabled, number 1 disabled, both from a time
        # inside the stream: the gate and the customer view change for later events only.
        effective = 1_780_272_000 + SIGNED_RECORDS * 7 // 20
        registry = pipeline.registry
        registry.apply(NumberState(
            number="+15551230002", phone_number_id="200000000000002", scope="acme",
            bsuid_enabled=True), effective)  # fmt: skip
        registry.apply(NumberState(
            number="+15551230001", phone_number_id="200000000000001", scope="acme",
            bsuid_enabled=False), effective)  # fmt: skip

    return DataSet("signed", make, [records[:half], records[half:]], enable_and_disable)


def bench_set(count: int = BENCH_RECORDS) -> DataSet:
    registry = _registry(demo_registry_toml())
    raw = generate(count, seed=7)
    records = generated_inputs((r.key, r.value, r.headers) for r in raw)
    return DataSet("bench", lambda: Pipeline(registry=registry), [records])


SETS: dict[str, Callable[[], DataSet]] = {
    "fixtures": fixtures_set,
    "signed": signed_set,
    "bench": bench_set,
}


def checked_in() -> dict[str, str]:
    """name -> the checked-in line."""
    lines = DIGESTS.read_text().splitlines()
    return {line.split(" ", 1)[0]: line for line in lines if line and not line.startswith("#")}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Digests of the pipeline's outputs.")
    parser.add_argument("sets", nargs="*", help=f"some of {', '.join(SETS)} (default: all)")
    parser.add_argument("--write", action="store_true", help=f"rewrite {DIGESTS.name}")
    args = parser.parse_args(argv)
    args.sets = args.sets or list(SETS)
    if unknown := set(args.sets) - set(SETS):
        parser.error(f"unknown data sets {sorted(unknown)}: choose from {list(SETS)}")
    known = checked_in() if DIGESTS.exists() else {}
    differ = False
    for name in args.sets:
        line = digest(SETS[name]()).line()
        same = known.get(name) == line
        differ |= not same
        print(f"{'same' if same else 'DIFFERS'}  {line}")
        known[name] = line
    if args.write:
        header = "# Golden digests of the pipeline's outputs: tests/golden/README.md.\n"
        DIGESTS.write_text(header + "".join(known[name] + "\n" for name in SETS if name in known))
    return 1 if differ and not args.write else 0


if __name__ == "__main__":
    sys.exit(main())
