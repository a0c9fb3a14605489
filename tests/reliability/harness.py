"""What the reliability scenarios share: the offline oracle, a reader of the output topics,
worker processes, a scanner for secrets in logs, and the figures each scenario reports.

Nothing here needs pytest: `make soak` runs the same code at larger sizes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import socket
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from processor.core.pipeline import Pipeline
from processor.core.records import Headers, InputRecord, OutputRecord
from processor.core.signature import SigningSecrets
from processor.devkit.generate import GeneratedRecord, demo_registry_toml
from processor.devkit.generate_shapes import TEXTS
from processor.devkit.publish import publish
from processor.runtime.topics import TopicSpec, ensure_topics, topic_specs
from processor.settings import load_registry, load_settings
from schemas.settings import Settings
from tests.integration.workers import WorkerProcess
from tests.output_tail import OutputTail

#: Webhook secrets of every scenario: the worker verifies them, the log scan looks for them.
META_SECRET = "rel-meta-secret-7f3a9c2e51"
CONNECTLY_SECRET = "rel-connectly-secret-c4d81b06"
SECRETS = SigningSecrets(meta=META_SECRET.encode(), connectly=CONNECTLY_SECRET.encode())
ROUTES = ("identity", "dropped", "dlq")

_ENCODE = msgspec.json.encode
_DECODE = msgspec.json.decode


# -- figures -----------------------------------------------------------------------------------


@dataclass
class Figures:
    """What one scenario did and found: a row of docs/reliability.md."""

    name: str
    size: str
    broker: str = ""
    inputs: int = 0
    expected_outputs: int = 0
    outputs_read: int = 0
    kills: int = 0
    stalls: int = 0
    workers: int = 0
    #: Inputs with at least one expected output that never appeared.
    lost: int = 0
    #: Outputs nobody expected, or an expected eventId with other content.
    strays: int = 0
    #: Outputs read more often than the inputs asked for (at-least-once repeats).
    duplicates: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    log_lines: int = 0
    leaks: list[str] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def check(self) -> None:
        """The invariants every scenario keeps; a violation names itself."""
        assert self.lost == 0, f"{self.name}: {self.lost} inputs lost"
        assert self.strays == 0, f"{self.name}: {self.strays} unexpected outputs"
        assert not self.leaks, f"{self.name}: sensitive data in logs: {self.leaks[:5]}"

    def line(self) -> str:
        codes = ", ".join(f"{c} {n}" for c, n in sorted(self.dead_letters.items())) or "-"
        return (
            f"[{self.name}] {self.size} on {self.broker}: inputs {self.inputs}, outputs "
            f"expected {self.expected_outputs} read {self.outputs_read}, kills {self.kills}, "
            f"stalls {self.stalls}, workers {self.workers}, lost {self.lost}, strays "
            f"{self.strays}, duplicates {self.duplicates}, dead letters: {codes}; log lines "
            f"scanned {self.log_lines}, leaks {len(self.leaks)}; {self.seconds:.0f} s"
            + "".join(f"; {note}" for note in self.notes)
        )


# -- the oracle --------------------------------------------------------------------------------


def output_id(
    route: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]]
) -> str:
    """What identifies an output across runs: the eventId, or a dead letter's bytes and code."""
    if route != "dlq":
        return str(_DECODE(value)["eventId"])
    named = dict(headers)
    digest = hashlib.blake2b(digest_size=12)
    for part in (
        key or b"",
        value,
        named.get("dlq.error.code", b""),
        named.get("dlq.error.message", b""),
    ):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return "dlq:" + digest.hexdigest()


def content_digest(route: str, key: bytes | None, value: bytes) -> bytes:
    """The output without its Kafka coordinates (`source`): equal for a repeat of one input."""
    if route == "dlq":
        return b""
    event = _DECODE(value)
    event.pop("source", None)
    return hashlib.blake2b((key or b"") + b"\0" + _ENCODE(event), digest_size=16).digest()


@dataclass
class Oracle:
    """What the offline pure pipeline makes of the inputs: the truth the live worker must meet."""

    inputs: int = 0
    #: Output id -> how many inputs produce it (a webhook retry produces the same eventId).
    expected: Counter[str] = field(default_factory=Counter)
    #: Output id -> its content without coordinates. Usually one; a history chunk listing the
    #: same thread twice gives one eventId (the natural key) with two `occurredAt`s.
    digests: dict[str, set[bytes]] = field(default_factory=dict)
    #: Output ids of every input that has outputs (skipped inputs have none).
    per_input: list[tuple[str, ...]] = field(default_factory=list)
    dead_letters: Counter[str] = field(default_factory=Counter)
    skips: int = 0

    @classmethod
    def build(
        cls, records: Iterable[GeneratedRecord], numbers: str, secrets: SigningSecrets = SECRETS
    ) -> Oracle:
        pipeline = Pipeline(registry=load_registry(numbers), secrets=secrets)
        oracle = cls()
        for record in records:
            oracle.add(
                pipeline,
                InputRecord(value=record.value, key=record.key, headers=list(record.headers)),
            )
        oracle.dead_letters = Counter(pipeline.stats.dead_letters)
        oracle.skips = sum(pipeline.stats.skips.values())
        return oracle

    def add(self, pipeline: Pipeline, record: InputRecord) -> None:
        outputs: list[OutputRecord] = []
        pipeline.process(record, outputs.append)
        self.inputs += 1
        ids = []
        for out in outputs:
            oid = output_id(out.route, out.key, out.value, out.headers)
            ids.append(oid)
            self.expected[oid] += 1
            self.digests.setdefault(oid, set()).add(content_digest(out.route, out.key, out.value))
        if ids:
            self.per_input.append(tuple(ids))

    @property
    def outputs(self) -> int:
        return sum(self.expected.values())


# -- reading the output topics -----------------------------------------------------------------


class OutputReader(OutputTail):
    """Reads the three output topics from the start in the background and checks each output
    against the oracle as it arrives."""

    def __init__(self, settings: Settings, oracle: Oracle) -> None:
        super().__init__(settings)
        self.oracle = oracle
        self.seen: Counter[str] = Counter()
        self.codes: Counter[str] = Counter()
        self.strays: list[str] = []
        self.missing = set(oracle.expected)
        self.count = 0
        self.last_arrival = time.monotonic()

    def see(self, route: str, message: Any) -> None:
        self._check(route, message.key, message.value or b"", list(message.headers))

    def _check(self, route: str, key: bytes | None, value: bytes, headers: Headers) -> None:
        self.count += 1
        self.last_arrival = time.monotonic()
        try:
            oid = output_id(route, key, value, headers)
        except (msgspec.DecodeError, KeyError, TypeError) as exc:
            self.strays.append(f"{route}: undecodable output ({exc})")
            return
        expected = self.oracle.digests.get(oid)
        if expected is None:
            self.strays.append(f"{route}: unexpected output {oid}")
            return
        if content_digest(route, key, value) not in expected:
            self.strays.append(f"{route}: {oid} differs from the offline event: {value[:600]!r}")
            return
        if route == "dlq" and not self.seen[oid]:
            self.codes[dict(headers)["dlq.error.code"].decode()] += 1
        self.seen[oid] += 1
        self.missing.discard(oid)

    def complete(self) -> bool:
        return not self.missing

    async def wait(self, check: Callable[[], bool], timeout_s: float, what: str = "") -> bool:
        deadline = time.monotonic() + timeout_s
        while not check():
            if time.monotonic() > deadline:
                if what:
                    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
                return False
            await asyncio.sleep(0.1)
        return True

    async def settle(self, quiet_s: float = 1.5, limit_s: float = 30.0) -> None:
        """Until nothing arrived for `quiet_s`: late duplicates are counted too."""
        deadline = time.monotonic() + limit_s

        def quiet() -> bool:
            now = time.monotonic()
            return now - self.last_arrival >= quiet_s or now >= deadline

        await self.wait(quiet, limit_s + 1)

    def fill(self, figures: Figures) -> None:
        """Lost, strays, duplicates and dead letters of what was read, into `figures`."""
        oracle = self.oracle
        figures.inputs = figures.inputs or oracle.inputs
        figures.expected_outputs = oracle.outputs
        figures.outputs_read = self.count
        figures.lost = sum(1 for ids in oracle.per_input if any(i in self.missing for i in ids))
        figures.strays = len(self.strays)
        figures.duplicates = sum(max(0, n - oracle.expected[oid]) for oid, n in self.seen.items())
        figures.dead_letters = Counter(self.codes)
        if self.strays:
            figures.notes.append("first strays: " + "; ".join(self.strays[:3]))


# -- topics, settings, workers -----------------------------------------------------------------


def scenario_settings(
    bootstrap_servers: str,
    workdir: Path,
    name: str,
    *,
    partitions: int = 3,
    session_timeout_ms: int = 6000,
    **overrides: Any,
) -> Settings:
    """Unique topics and group for one scenario, the demo registry in `workdir`."""
    numbers = workdir / "numbers.toml"
    if not numbers.exists():
        numbers.write_text(demo_registry_toml())
    run = f"{name}.{uuid.uuid4().hex[:6]}"
    values: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers,
        "raw_topic": f"rel-raw.{run}",
        "identity_topic": f"rel-identity.{run}",
        "dropped_topic": f"rel-dropped.{run}",
        "dlq_topic": f"rel-dlq.{run}",
        "control_topic": f"rel-control.{run}",
        "replay_state_topic": f"rel-replay.{run}",
        "group_id": f"rel-group.{run}",
        "numbers": str(numbers),
        "topic_partitions": partitions,
        "session_timeout_ms": session_timeout_ms,
        "heartbeat_interval_ms": 500,
        "http_port": 0,
        "shutdown_timeout_s": 20,
        "meta_app_secret": META_SECRET,
        "connectly_webhook_secret": CONNECTLY_SECRET,
    }
    values.update(overrides)
    return load_settings(values, environ={})


async def create_topics(settings: Settings, *, dlq_max_bytes: int | None = None) -> None:
    specs = topic_specs(settings)
    if dlq_max_bytes is not None:
        specs = [
            TopicSpec(s.name, s.partitions, {**s.configs, "max.message.bytes": str(dlq_max_bytes)})
            if s.name == settings.dlq_topic
            else s
            for s in specs
        ]
    await ensure_topics(settings, specs)


async def publish_records(settings: Settings, records: Sequence[GeneratedRecord]) -> None:
    await publish(settings, settings.raw_topic, ((r.key, r.value, r.headers) for r in records))


async def trickle(
    settings: Settings, records: Sequence[GeneratedRecord], *, steps: int, pause_s: float
) -> None:
    """Publish `records` in `steps` pieces, `pause_s` apart: input that keeps arriving."""
    for piece in chunks(records, steps):
        await publish_records(settings, piece)
        await asyncio.sleep(pause_s)


def worker_env(
    settings: Settings,
    *,
    http_port: int = 0,
    log_level: str = "info",
    max_batch_records: int | None = None,
) -> dict[str, str]:
    """The environment of a `python -m processor run` subprocess with these settings."""
    s = settings
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": s.bootstrap_servers,
        "BSUID_RAW_TOPIC": s.raw_topic,
        "BSUID_IDENTITY_TOPIC": s.identity_topic,
        "BSUID_DROPPED_TOPIC": s.dropped_topic,
        "BSUID_DLQ_TOPIC": s.dlq_topic,
        "BSUID_CONTROL_TOPIC": s.control_topic,
        "BSUID_REPLAY_STATE_TOPIC": s.replay_state_topic,
        "BSUID_GROUP_ID": s.group_id,
        "BSUID_NUMBERS": s.numbers,
        "BSUID_SESSION_TIMEOUT_MS": str(s.session_timeout_ms),
        "BSUID_HEARTBEAT_INTERVAL_MS": str(s.heartbeat_interval_ms),
        "BSUID_SHUTDOWN_TIMEOUT_S": str(s.shutdown_timeout_s),
        "BSUID_HTTP_HOST": "127.0.0.1",
        "BSUID_HTTP_PORT": str(http_port),
        "BSUID_LOG_FORMAT": "json",
        "BSUID_LOG_LEVEL": log_level,
        "META_APP_SECRET": s.meta_app_secret,
        "CONNECTLY_WEBHOOK_SECRET": s.connectly_webhook_secret,
    }
    if max_batch_records is not None:
        env["BSUID_MAX_BATCH_RECORDS"] = str(max_batch_records)
    return env


async def wait_logged(worker: WorkerProcess, text: str, timeout_s: float = 90.0) -> bool:
    """True once `text` is in the worker's log; False if it exited first or time ran out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in worker.log_text():
            return True
        if worker.process.poll() is not None:
            return False
        await asyncio.sleep(0.1)
    return False


async def wait_exit(worker: WorkerProcess, timeout_s: float) -> int:
    try:
        return await asyncio.to_thread(worker.wait, timeout_s)
    except Exception as exc:
        worker.stop()
        raise AssertionError(
            f"worker still running after {timeout_s:.0f} s:\n{worker.log_text()[-3000:]}"
        ) from exc


async def committed_offsets(
    settings: Settings, partitions: int, timeout_s: float = 30.0
) -> dict[int, int]:
    """The group's committed offset per raw partition (-1 where none)."""
    tps = [TopicPartition(settings.raw_topic, p) for p in range(partitions)]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                offsets = await admin.list_consumer_group_offsets(settings.group_id, partitions=tps)
                break
            except KafkaError:  # no coordinator yet (a group just created, a broker just up)
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await admin.close()
    return {tp.partition: (meta.offset if meta is not None else -1) for tp, meta in offsets.items()}


async def end_offsets(settings: Settings, partitions: int) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    await consumer.start()
    try:
        tps = [TopicPartition(settings.raw_topic, p) for p in range(partitions)]
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return {tp.partition: offset for tp, offset in ends.items()}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ReadinessLog:
    """`/readyz` of a worker, polled every `interval_s`: (monotonic time, status, failing)."""

    port: int
    interval_s: float = 0.2
    samples: list[tuple[float, int, tuple[str, ...]]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="readyz-poller")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        url = f"http://127.0.0.1:{self.port}/readyz"
        timeout = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while True:
                status, failing = 0, ("unanswered",)
                try:
                    async with http.get(url) as response:
                        body = await response.json()
                        status, failing = response.status, tuple(body.get("failing", ()))
                except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError):
                    pass
                self.samples.append((time.monotonic(), status, failing))
                await asyncio.sleep(self.interval_s)

    async def wait_status(self, status: int, timeout_s: float, after: float = 0.0) -> float:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for at, got, _ in self.samples:
                if at >= after and got == status:
                    return at
            await asyncio.sleep(0.1)
        raise AssertionError(f"/readyz never answered {status} within {timeout_s:.0f} s")

    def between(self, start: float, end: float) -> list[tuple[float, int, tuple[str, ...]]]:
        return [s for s in self.samples if start <= s[0] <= end]


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:.0f} s: {what}")
        await asyncio.sleep(0.2)


def chunks(items: Sequence[GeneratedRecord], parts: int) -> Iterator[Sequence[GeneratedRecord]]:
    size = -(-len(items) // parts)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def history_body(size: int, first_customer: int = 0) -> bytes:
    """A valid Meta history chunk of exactly `size` bytes: thousands of threads, each one
    customer appearance, padded to the byte with the last message's text."""
    threads: list[dict[str, Any]] = []
    thread_bytes = 0
    i = first_customer
    while thread_bytes < size - 2000:
        phone = f"1415555{i % 10_000:04d}"
        bsuid = f"US.{8801928374650100000 + i}"
        thread = {
            "id": phone,
            "context": {"wa_id": phone, "user_id": bsuid},
            "messages": [
                {
                    "from": phone,
                    "from_user_id": bsuid,
                    "id": f"wamid.BIG{i:07d}",
                    "timestamp": "1781000000",
                    "type": "text",
                    "text": {"body": ""},
                }
            ],
        }
        threads.append(thread)
        thread_bytes += len(json.dumps(thread)) + 2
        i += 1
    body: dict[str, Any] = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "300000000000001",
                "changes": [
                    {
                        "field": "history",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15551230001",
                                "phone_number_id": "200000000000001",
                            },
                            "history": [
                                {
                                    "metadata": {"phase": 0, "chunk_order": 1, "progress": 100},
                                    "threads": threads,
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    encoded = json.dumps(body).encode()
    assert len(encoded) <= size, (len(encoded), size)
    threads[-1]["messages"][0]["text"]["body"] = "x" * (size - len(encoded))
    encoded = json.dumps(body).encode()
    assert len(encoded) == size
    return encoded


# -- secrets in logs ---------------------------------------------------------------------------

#: Keys whose string values are phone numbers in Meta and Connectly bodies.
PHONE_KEYS = frozenset(
    {
        "from", "to", "wa_id", "recipient_id", "recipient_participant_id", "phone_number",
        "phoneNumber", "display_phone_number", "phone", "id",
    }
)  # fmt: skip
_PHONE = re.compile(r"^\+?\d{7,15}$")
_DIGITS = re.compile(r"\d{7,}")
_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{20,}")


@dataclass
class Sensitive:
    """What must never reach a log line: customer and business phones, message texts,
    webhook secrets and the signatures made with them."""

    phones: set[str] = field(default_factory=set)
    texts: set[str] = field(default_factory=set)
    secrets: set[str] = field(default_factory=set)
    signatures: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, records: Iterable[GeneratedRecord], secrets: Iterable[str] = ()) -> Sensitive:
        found = cls(secrets={s for s in secrets if s})
        # The generator's message texts; the short ones ("hi") would match any word.
        found.texts = {t for t in (_DECODE(raw) for raw in TEXTS) if len(t) >= 6}
        for record in records:
            for name, value in record.headers:
                if name.startswith("x-") and value:
                    found.signatures.add(value.decode(errors="replace").removeprefix("sha256="))
            try:
                body = _DECODE(record.value)
            except msgspec.DecodeError:
                continue
            found._walk(body)
        return found

    def _walk(self, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, str):
                    # An "id" is a phone only in Connectly's E.164 form (else a WABA, a wamid).
                    phone = key in PHONE_KEYS and (key != "id" or value.startswith("+"))
                    if phone and _PHONE.match(value):
                        self.phones.add(value.lstrip("+"))
                    elif key == "body" and len(value) >= 6:
                        self.texts.add(value)
                else:
                    self._walk(value)
        elif isinstance(node, list):
            for item in node:
                self._walk(item)

    def scan(self, text: str) -> list[str]:
        """Every line of `text` that shows something of this; the finding is masked itself."""
        findings: list[str] = []
        texts = [(t, _ENCODE(t).decode()[1:-1]) for t in self.texts]
        for number, line in enumerate(text.splitlines(), 1):
            for run in _DIGITS.findall(line):
                hit = next(
                    (
                        run[i : i + n]
                        for n in range(7, min(len(run), 15) + 1)
                        for i in range(len(run) - n + 1)
                        if run[i : i + n] in self.phones
                    ),
                    None,
                )
                if hit is not None:
                    findings.append(f"line {number}: phone {hit[:3]}...{hit[-2:]}")
            for plain, escaped in texts:
                if plain in line or escaped in line:
                    findings.append(f"line {number}: message text {plain[:3]}...")
            findings += [f"line {number}: a webhook secret" for s in self.secrets if s in line]
            findings += [
                f"line {number}: a webhook signature"
                for token in _TOKEN.findall(line)
                if token.removeprefix("sha256=") in self.signatures
            ]
        return findings


def scan_logs(paths: Iterable[Path], sensitive: Sensitive, figures: Figures) -> None:
    for path in paths:
        text = path.read_text(errors="replace")
        figures.log_lines += text.count("\n")
        figures.leaks += [f"{path.name} {finding}" for finding in sensitive.scan(text)]
