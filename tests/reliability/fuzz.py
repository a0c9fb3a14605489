"""Fuzzing the pure pipeline with mutations of real webhook shapes, at volume.

Two sources of input. Hypothesis draws structured ones from `tests/property/strategies.py`
(real sample bodies with fields dropped, swapped, retyped, nested 50,000 deep, numbers 6,000
digits long, broken UTF-8; webhook-shaped envelopes with arbitrary insides; arbitrary JSON and
bytes). Hypothesis costs ~3 ms per example, so the volume (a million inputs in `make soak`)
comes from a seeded mutator that applies the same kinds of edits, plus byte-level ones
(flips, cuts, splices), to those examples, the sample bodies and generated traffic, and
exercises the signature check (valid, missing, wrong secret, replayed from another body).
Every fiftieth-thousandth input or so is a body at Meta's 3 MiB limit, or one byte over it.

Every input must end as outputs, one counted skip, or exactly one dead letter
(`tests/property/checks.check_outcome`), the pipeline must never raise, and an input that is
not signed right must never produce an identity event when secrets are configured.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from processor.core.decode import MAX_BODY_BYTES
from processor.core.pipeline import Pipeline
from processor.core.records import InputRecord, OutputRecord
from processor.core.signature import (
    CONNECTLY_HEADER,
    META_HEADER,
    VONAGE_HEADER,
    SigningSecrets,
    sign_connectly,
    sign_meta,
    sign_vonage,
)
from processor.devkit.generate import generate
from tests.property.checks import check_outcome, decode_event, sample_registry, samples
from tests.property.strategies import (
    FIELD_NAMES,
    GARBAGE,
    Path,
    all_paths,
    json_values,
    mutated,
    parent_of,
    retype,
    webhook_shaped,
)
from tests.reliability.harness import history_body

#: 32 bytes at least: also the HS256 key of Vonage's JWTs (PyJWT warns about shorter ones).
SECRET = b"fuzz-secret-0b7e-0123456789abcdef"
OTHER_SECRET = b"fuzz-other-secret-91c2-0123456789"
SECRETS = SigningSecrets(meta=SECRET, connectly=SECRET, vonage=SECRET)
#: How the headers of a signed-pipeline input are made, and whether it must be refused.
SIGNINGS = (
    "meta", "connectly", "vonage", "replayed", "other_secret", "missing", "garbled",
    "vonage_replayed",
)  # fmt: skip
SOURCE_LABELS = (b"meta", b"connectly", b"vonage", b"wati", b"META", b"", b"whatsapp")
#: Formats whose webhooks carry no signature: no secret applies to them (docs/providers.md).
UNSIGNED_FORMATS = frozenset({"wati"})


@dataclass
class FuzzReport:
    inputs: int = 0
    crashes: int = 0
    #: Inputs whose outcome broke the rule (outputs / one skip / exactly one dead letter).
    unaccounted: int = 0
    #: Inputs not signed right that still produced an identity event.
    unsigned_published: int = 0
    outputs: int = 0
    skipped: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    by_source: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def merge(self, other: FuzzReport) -> None:
        self.inputs += other.inputs
        self.crashes += other.crashes
        self.unaccounted += other.unaccounted
        self.unsigned_published += other.unsigned_published
        self.outputs += other.outputs
        self.skipped += other.skipped
        self.dead_letters.update(other.dead_letters)
        self.by_source.update(other.by_source)
        self.failures += other.failures[: max(0, 10 - len(self.failures))]
        self.seconds = max(self.seconds, other.seconds)

    @property
    def dead_lettered(self) -> int:
        return sum(self.dead_letters.values())

    def line(self) -> str:
        codes = ", ".join(f"{c} {n:,}" for c, n in sorted(self.dead_letters.items()))
        sources = ", ".join(f"{s} {n:,}" for s, n in sorted(self.by_source.items()))
        return (
            f"[fuzz] {self.inputs:,} inputs ({sources}) in {self.seconds:.0f} s: crashes "
            f"{self.crashes}, unaccounted {self.unaccounted}, unsigned but published "
            f"{self.unsigned_published}; {self.outputs:,} events, {self.skipped:,} skips, "
            f"{self.dead_lettered:,} dead letters: {codes}"
        )


# -- hypothesis: structured examples -----------------------------------------------------------


def hypothesis_corpus(count: int, seed_value: int) -> list[bytes]:
    """`count` bodies drawn by hypothesis from the property suite's strategies."""
    bodies = samples()
    strategy = st.one_of(
        mutated(bodies),
        mutated(bodies, typed=True),
        webhook_shaped().map(lambda doc: json.dumps(doc).encode()),
        json_values.map(lambda doc: json.dumps(doc).encode()),
        st.binary(max_size=2000),
    )
    drawn: list[bytes] = []

    @seed(seed_value)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(body: bytes) -> None:
        drawn.append(body)

    collect()
    return drawn


# -- the fast mutator --------------------------------------------------------------------------

_NESTING = (2, 50, 200, 990, 1000, 1010, 3000, 50_000)
_BAD_UTF8 = (b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf")
_RAW_TRICKS = (
    b"NaN", b"Infinity", b"-0", b"1e999", b"00", b'"\\ud800"', b"\x00", b"[]", b"{}", b"null",
    b'"' + b"9" * 30 + b'"', b"1" + b"0" * 4400, b"[" * 5000 + b"]" * 5000,
)  # fmt: skip


class Mutator:
    """Seeded edits in the spirit of `strategies.mutated`, cheap enough for millions."""

    def __init__(self, rng: random.Random, seeds: list[bytes]) -> None:
        self.rng = rng
        self.seeds = seeds
        self._json_ops: list[Callable[[Any, Path, list[Path]], None]] = [
            self._garbage, self._garbage, self._garbage, self._drop, self._drop, self._swap,
            self._retype, self._replace, self._duplicate, self._rename, self._insert,
        ]  # fmt: skip
        self._byte_ops: list[Callable[[bytes], bytes]] = [
            self._flip, self._truncate, self._splice, self._delete, self._token, self._repeat,
            self._raw_trick, self._bad_utf8, self._nest,
        ]  # fmt: skip

    def mutate(self, body: bytes) -> tuple[bytes, str]:
        rng = self.rng
        if rng.random() < 0.6:
            try:
                doc = json.loads(body)
            except (ValueError, RecursionError):
                doc = None
            if isinstance(doc, dict | list):
                # Paths are listed once: an edit may make some stale, which then do nothing.
                paths = all_paths(doc)
                for _ in range(rng.choice((1, 1, 1, 2, 3, 4)) if paths else 0):
                    with contextlib.suppress(KeyError, IndexError, TypeError, ValueError):
                        rng.choice(self._json_ops)(doc, rng.choice(paths), paths)
                try:
                    encoded = json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode()
                except (ValueError, RecursionError):
                    encoded = body
                if rng.random() < 0.25:
                    encoded = rng.choice(self._byte_ops)(encoded)
                return encoded, "structural"
        for _ in range(rng.randint(1, 3)):
            body = rng.choice(self._byte_ops)(body)
        return body, "bytes"

    # JSON-level edits (the strategies' operations)

    def _value(self, depth: int = 0) -> Any:
        rng = self.rng
        roll = rng.random()
        if depth < 3 and roll < 0.15:
            return {
                rng.choice(FIELD_NAMES): self._value(depth + 1) for _ in range(rng.randint(0, 3))
            }
        if depth < 3 and roll < 0.25:
            return [self._value(depth + 1) for _ in range(rng.randint(0, 3))]
        return rng.choice(
            (None, True, False, 0, -1, 2**63, 2**64 + 1, 1.5e308, "", rng.choice(GARBAGE))
        )

    def _garbage(self, doc: Any, path: Path, paths: list[Path]) -> None:
        parent_of(doc, path)[path[-1]] = self.rng.choice(GARBAGE)

    def _drop(self, doc: Any, path: Path, paths: list[Path]) -> None:
        del parent_of(doc, path)[path[-1]]

    def _swap(self, doc: Any, path: Path, paths: list[Path]) -> None:
        other = self.rng.choice(paths)
        if other[: len(path)] != path and path[: len(other)] != other:
            a, b = parent_of(doc, path), parent_of(doc, other)
            a[path[-1]], b[other[-1]] = b[other[-1]], a[path[-1]]

    def _retype(self, doc: Any, path: Path, paths: list[Path]) -> None:
        parent = parent_of(doc, path)
        parent[path[-1]] = retype(parent[path[-1]])

    def _replace(self, doc: Any, path: Path, paths: list[Path]) -> None:
        parent_of(doc, path)[path[-1]] = self._value()

    def _duplicate(self, doc: Any, path: Path, paths: list[Path]) -> None:
        parent = parent_of(doc, path)
        key = path[-1]
        if isinstance(parent, list) and isinstance(key, int):
            parent.append(json.loads(json.dumps(parent[key])))

    def _rename(self, doc: Any, path: Path, paths: list[Path]) -> None:
        parent = parent_of(doc, path)
        if isinstance(parent, dict):
            parent[self.rng.choice(FIELD_NAMES)] = parent.pop(path[-1])

    def _insert(self, doc: Any, path: Path, paths: list[Path]) -> None:
        node = parent_of(doc, path)[path[-1]]
        if isinstance(node, dict):
            node[self.rng.choice(FIELD_NAMES)] = self._value()
        elif isinstance(node, list):
            node.insert(self.rng.randint(0, len(node)), self._value())

    # byte-level edits

    def _at(self, body: bytes) -> int:
        return self.rng.randint(0, len(body))

    def _flip(self, body: bytes) -> bytes:
        if not body:
            return b"\x00"
        data = bytearray(body)
        for _ in range(self.rng.randint(1, 8)):
            data[self.rng.randrange(len(data))] ^= 1 << self.rng.randrange(8)
        return bytes(data)

    def _truncate(self, body: bytes) -> bytes:
        return body[: self._at(body)]

    def _splice(self, body: bytes) -> bytes:
        other = self.rng.choice(self.seeds)
        return body[: self._at(body)] + other[self._at(other) :]

    def _delete(self, body: bytes) -> bytes:
        start = self._at(body)
        return body[:start] + body[start + self.rng.randint(1, 64) :]

    def _token(self, body: bytes) -> bytes:
        at = self._at(body)
        return body[:at] + json.dumps(self.rng.choice(GARBAGE)).encode() + body[at:]

    def _repeat(self, body: bytes) -> bytes:
        start = self._at(body)
        piece = body[start : start + self.rng.randint(1, 256)]
        return body[:start] + piece * self.rng.randint(2, 50) + body[start:]

    def _raw_trick(self, body: bytes) -> bytes:
        at = self._at(body)
        return body[:at] + self.rng.choice(_RAW_TRICKS) + body[at:]

    def _bad_utf8(self, body: bytes) -> bytes:
        at = self._at(body)
        return body[:at] + self.rng.choice(_BAD_UTF8) + body[at:]

    def _nest(self, body: bytes) -> bytes:
        depth = self.rng.choice(_NESTING)
        at = self._at(body)
        return body[:at] + b"[" * depth + b"]" * depth + body[at:]


# -- one fuzzing run ---------------------------------------------------------------------------


def _headers(rng: random.Random, body: bytes, signed: bool) -> tuple[list[tuple[str, bytes]], bool]:
    """Headers for `body` and whether the input is signed right (always, when unsigned)."""
    if not signed:
        headers = [("webhook-source", rng.choice(SOURCE_LABELS))] if rng.random() < 0.5 else []
        if rng.random() < 0.1:
            headers.append((rng.choice((META_HEADER, CONNECTLY_HEADER)), b"sha256=00"))
        if rng.random() < 0.05:
            headers.append((VONAGE_HEADER, b"Bearer x.y.z"))
        return headers, True
    how = rng.choice(SIGNINGS)
    labels = (b"meta", b"connectly", b"vonage")
    label = [("webhook-source", rng.choice(labels))] if rng.random() < 0.3 else []
    if how == "meta":
        return [("webhook-source", b"meta"), (META_HEADER, sign_meta(body, SECRET))], True
    if how == "connectly":
        return [
            ("webhook-source", b"connectly"),
            (CONNECTLY_HEADER, sign_connectly(body, SECRET)),
        ], True
    if how == "vonage":
        token = sign_vonage(body, SECRET, issued_at=1_782_000_000, jti="fuzz")
        return [("webhook-source", b"vonage"), (VONAGE_HEADER, token)], True
    if how == "vonage_replayed":  # a genuine token, of another body
        token = sign_vonage(body + b" ", SECRET, issued_at=1_782_000_000, jti="fuzz")
        return [*label, (VONAGE_HEADER, token)], False
    if how == "replayed":  # a genuine signature, of another body
        other = body + b" " if rng.random() < 0.5 or not body else body[:-1]
        return [*label, (META_HEADER, sign_meta(other, SECRET))], False
    if how == "other_secret":
        return [*label, (CONNECTLY_HEADER, sign_connectly(body, OTHER_SECRET))], False
    if how == "garbled":  # one hex digit changed
        good = sign_meta(body, SECRET)
        return [*label, (META_HEADER, good[:-1] + (b"0" if good[-1:] != b"0" else b"1"))], False
    return label, False


def run_fuzz(
    count: int,
    *,
    seed_value: int = 1,
    hypothesis_examples: int = 1000,
    boundary_every: int = 50_000,
    generated: int = 2000,
) -> FuzzReport:
    """Feed `count` inputs to the pipeline (hypothesis examples first) and account for each."""
    started = time.monotonic()
    rng = random.Random(seed_value)
    corpus = hypothesis_corpus(hypothesis_examples, seed_value) if hypothesis_examples else []
    traffic = [r.value for r in generate(generated, seed=seed_value, malformed_ratio=0.1)]
    seeds = [*samples().values(), *traffic, *corpus]
    mutator = Mutator(rng, seeds)
    valid_3mib = history_body(MAX_BODY_BYTES)
    boundary = [
        (valid_3mib, "boundary: 3 MiB valid"),
        (valid_3mib + b" ", "boundary: 3 MiB + 1"),
        (b"{" + bytes(rng.getrandbits(8) for _ in range(64)) * 70_000, "boundary: 4.5 MB junk"),
    ]
    registry = sample_registry()
    plain = Pipeline(registry=registry)
    signed = Pipeline(registry=registry, secrets=SECRETS)
    report = FuzzReport()
    for index in range(count):
        if index < len(corpus):
            body, source = corpus[index], "hypothesis"
        elif boundary_every and index % boundary_every == boundary_every - 1:
            body, source = boundary[(index // boundary_every) % len(boundary)]
        elif rng.random() < 0.1:
            body, source = rng.choice(traffic), "generated"
        else:
            body, source = mutator.mutate(rng.choice(seeds))
        with_secrets = rng.random() < 0.3
        headers, signed_right = _headers(rng, body, with_secrets)
        if source.startswith("boundary"):  # a Meta body, signed right when secrets are set
            headers = [("webhook-source", b"meta")]
            if with_secrets:
                headers.append((META_HEADER, sign_meta(body, SECRET)))
            signed_right = True
        pipeline = signed if with_secrets else plain
        record = InputRecord(
            value=body,
            key=rng.choice((None, b"k", b"+14155550123")),
            headers=headers,
            topic="whatsapp.webhooks.raw",
            partition=index % 6,
            offset=index,
            timestamp_ms=rng.choice((0, 1_782_000_000_000, -1, 2**62)),
        )
        report.by_source[source.split(":")[0]] += 1
        _account(report, pipeline, record, signed_right, source)
    report.inputs = count
    report.dead_letters = plain.stats.dead_letters + signed.stats.dead_letters
    report.seconds = time.monotonic() - started
    return report


def _account(
    report: FuzzReport, pipeline: Pipeline, record: InputRecord, signed_right: bool, source: str
) -> None:
    out: list[OutputRecord] = []
    skips_before = sum(pipeline.stats.skips.values())
    records_before = pipeline.stats.records
    try:
        pipeline.process(record, out.append)
    except Exception as exc:
        report.crashes += 1
        report.failures.append(f"{source}: {type(exc).__name__}: {exc} on {record.value[:120]!r}")
        return
    skipped = sum(pipeline.stats.skips.values()) - skips_before
    events = sum(1 for o in out if o.route != "dlq")
    report.outputs += events
    report.skipped += skipped
    try:
        assert pipeline.stats.records == records_before + 1
        check_outcome(record, out, skipped)
    except AssertionError as exc:
        report.unaccounted += 1
        report.failures.append(f"{source}: {exc} on {record.value[:120]!r}")
    published = [o for o in out if o.route != "dlq"]
    if (
        published
        and not signed_right
        # A format without signatures is processed whatever the secrets.
        and not {decode_event(o).source.format for o in published} <= UNSIGNED_FORMATS
    ):
        report.unsigned_published += 1
        report.failures.append(
            f"{source}: published without a valid signature: {record.headers!r} "
            f"on {record.value[:120]!r}"
        )
    if source.startswith("boundary"):
        codes = [dict(o.headers).get("dlq.error.code") for o in out if o.route == "dlq"]
        too_large = len(record.value) > MAX_BODY_BYTES
        if too_large and codes != [b"too_large"]:  # the size is checked before anything
            report.unaccounted += 1
            report.failures.append(f"{source}: {len(record.value)} bytes gave {codes}")
        if not too_large and signed_right and (codes or not events):
            report.unaccounted += 1
            report.failures.append(f"{source}: a valid 3 MiB body gave {codes} / {events}")
