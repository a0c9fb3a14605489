"""The fault scenarios, each on a real broker with workers as separate processes.

Every scenario builds the expected outputs with the offline pure pipeline (the oracle),
injects its fault, reads the output topics back and returns `Figures`; the pytest tests (CI
sizes) and `make soak` (large sizes) call the same functions and assert on the same figures.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import shutil
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from processor.core.decode import MAX_BODY_BYTES
from processor.core.signature import META_HEADER, sign_meta
from processor.devkit.brokers.apache_kafka import ApacheKafkaCluster, start_apache_kafka_cluster
from processor.devkit.brokers.base import RunningBroker
from processor.devkit.brokers.probe import probe_metadata, wait_for
from processor.devkit.brokers.tansu import start_tansu
from processor.devkit.generate import GeneratedRecord, generate
from tests.integration.workers import WorkerProcess
from tests.reliability.harness import (
    CONNECTLY_SECRET,
    META_SECRET,
    SECRETS,
    Figures,
    Oracle,
    OutputReader,
    ReadinessLog,
    Sensitive,
    chunks,
    committed_offsets,
    create_topics,
    end_offsets,
    eventually,
    free_port,
    history_body,
    publish_records,
    scan_logs,
    scenario_settings,
    trickle,
    wait_exit,
    wait_logged,
    worker_env,
)

BrokerKind = Literal["kafka", "tansu"]
#: Outputs still in flight when a worker dies are published again by the next one; these
#: bound how long a scenario waits for the last of them.
DRAIN_TIMEOUT_S = 240.0


def session_timeout_ms(broker: RunningBroker) -> int:
    # Tansu holds a join for half the session timeout; Apache Kafka refuses under 6 s.
    return 3000 if broker.kind == "tansu" else 6000


def stream(records: int, seed: int) -> list[GeneratedRecord]:
    """Generated webhook traffic, signed with the secrets every worker here verifies."""
    return list(generate(records, seed=seed, signing=SECRETS))


def sensitive(records: Sequence[GeneratedRecord]) -> Sensitive:
    return Sensitive.of(records, [META_SECRET, CONNECTLY_SECRET])


# -- repeated SIGKILL --------------------------------------------------------------------------


async def sigkill_loop(
    broker: RunningBroker,
    workdir: Path,
    *,
    records: int,
    kills: int,
    seed: int = 101,
    partitions: int = 3,
    max_batch_records: int = 200,
    max_kill_delay_s: float = 2.5,
) -> Figures:
    """Start a worker, SIGKILL it at a random moment while new input arrives, start the next
    one, `kills` times; a last worker drains the rest (`--exit-when-drained`)."""
    started = time.monotonic()
    settings = scenario_settings(
        broker.bootstrap_servers,
        workdir,
        "kill",
        partitions=partitions,
        session_timeout_ms=session_timeout_ms(broker),
    )
    await create_topics(settings)
    inputs = stream(records, seed)
    oracle = Oracle.build(inputs, settings.numbers)
    figures = Figures("SIGKILL loop", f"{records:,} records, {kills} kills", broker.describe())
    rng = random.Random(seed)
    parts = list(chunks(inputs, kills + 1))
    await publish_records(settings, parts[0])
    env = worker_env(settings, max_batch_records=max_batch_records)
    reader = OutputReader(settings, oracle)
    reader.start()
    logs: list[Path] = []
    flowing = 0
    try:
        for i in range(kills):
            worker = WorkerProcess(env, workdir, f"kill-{i:03d}")
            logs.append(worker.log_path)
            publisher: asyncio.Task[None] | None = None
            try:
                # Mostly while processing, after the group handed out partitions; sometimes
                # while it starts, joins or loads the control topic.
                processing = rng.random() < 0.85
                if processing:
                    assigned = await wait_logged(worker, "partitions assigned", 120)
                    assert assigned, worker.log_text()[-3000:]
                if i + 1 < len(parts):
                    publisher = asyncio.create_task(
                        trickle(settings, parts[i + 1], steps=8, pause_s=max_kill_delay_s / 8)
                    )
                if processing:
                    await asyncio.sleep(rng.uniform(0.2, max_kill_delay_s))
                else:
                    await asyncio.sleep(rng.uniform(0.2, 2.0))
                flowing += time.monotonic() - reader.last_arrival < 0.5
                assert worker.process.poll() is None, worker.log_text()[-3000:]
                worker.kill()
                figures.kills += 1
                if publisher is not None:
                    await publisher
            finally:
                worker.stop()
        for part in parts[kills + 1 :]:
            await publish_records(settings, part)
        final = WorkerProcess(env, workdir, "kill-final", "--exit-when-drained")
        logs.append(final.log_path)
        code = await wait_exit(final, DRAIN_TIMEOUT_S)
        assert code == 0, final.log_text()[-3000:]
        await reader.wait(reader.complete, 60)
        await reader.settle()
    finally:
        await reader.stop()
    reader.fill(figures)
    figures.workers = kills + 1
    figures.notes.append(f"{flowing} of {kills} kills while outputs were arriving")
    scan_logs(logs, sensitive(inputs), figures)
    figures.seconds = time.monotonic() - started
    return figures


# -- broker stall (SIGSTOP / SIGCONT) ----------------------------------------------------------


class OwnBroker:
    """A one-process broker started for one scenario: stopped, continued, killed and
    replaced by an empty one at the same address, which no shared broker may be."""

    def __init__(self, kind: BrokerKind) -> None:
        self.kind = kind
        self._cluster: ApacheKafkaCluster | None = None
        self._tansu: RunningBroker | None = None
        self._frozen = False
        if kind == "kafka":
            self._cluster = start_apache_kafka_cluster(1)
            self.broker = self._cluster.running_broker()
        else:
            self._tansu = self.broker = start_tansu()

    @property
    def pid(self) -> int:
        if self._cluster is not None:
            process = self._cluster.nodes[1].process
            assert process is not None
            return process.pid
        assert self._tansu is not None
        assert self._tansu.pid is not None
        return self._tansu.pid

    def freeze(self) -> None:
        """SIGSTOP: the process holds its sockets but answers nothing (a long GC pause, a
        frozen VM)."""
        os.kill(self.pid, signal.SIGSTOP)
        self._frozen = True

    def thaw(self) -> None:
        if self._frozen:
            os.kill(self.pid, signal.SIGCONT)
            self._frozen = False

    def kill(self) -> None:
        if self._cluster is not None:
            self._cluster.kill(1)
        elif self._tansu is not None:
            os.kill(self.pid, signal.SIGKILL)
            self._tansu.stop()

    def start_empty(self) -> None:
        """A new broker with nothing in it, at the address of the old one (now dead)."""
        if self._cluster is not None:
            # The same ports, a wiped data folder and a new cluster id: a new, empty cluster.
            node = self._cluster.nodes[1]
            shutil.rmtree(node.directory)
            self._cluster._format(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()[:22])
            self._cluster._launch(node)
            wait_for(lambda: bool(probe_metadata(node.address).broker_ids), 90, "an empty Kafka")
        else:
            port = int(self.broker.bootstrap_servers.rsplit(":", 1)[1])
            self._tansu = self.broker = start_tansu(port=port)

    def stop(self) -> None:
        self.thaw()
        if self._cluster is not None:
            self._cluster.stop()
        elif self._tansu is not None:
            self._tansu.stop()


@contextmanager
def own_broker(kind: BrokerKind) -> Iterator[OwnBroker]:
    own = OwnBroker(kind)
    try:
        yield own
    finally:
        own.stop()


@dataclass
class StallFacts:
    """What `/readyz` said around the stall (seconds relative to SIGSTOP / SIGCONT)."""

    not_ready_after_stop_s: float | None
    ready_after_cont_s: float | None
    failing: Counter[str]
    samples_during: int
    worker_pid_kept: bool
    exit_code: int


async def broker_stall(
    kind: BrokerKind,
    workdir: Path,
    *,
    records: int,
    stall_s: float,
    seed: int = 202,
    partitions: int = 3,
) -> tuple[Figures, StallFacts]:
    """SIGSTOP the broker mid-stream for `stall_s`, then SIGCONT: the same worker process must
    turn not-ready, recover on its own, lose nothing, and drain with exit 0 on SIGTERM."""
    started = time.monotonic()
    with own_broker(kind) as own:
        broker = own.broker
        settings = scenario_settings(
            broker.bootstrap_servers,
            workdir,
            f"stall-{kind}",
            partitions=partitions,
            session_timeout_ms=session_timeout_ms(broker),
        )
        await create_topics(settings)
        inputs = stream(records, seed)
        oracle = Oracle.build(inputs, settings.numbers)
        figures = Figures(
            f"broker stall ({kind})",
            f"{records:,} records, SIGSTOP {stall_s:g} s",
            broker.describe(),
        )
        port = free_port()
        worker = WorkerProcess(
            worker_env(settings, http_port=port, max_batch_records=200), workdir, f"stall-{kind}"
        )
        pid = worker.process.pid
        ready = ReadinessLog(port)
        ready.start()
        reader = OutputReader(settings, oracle)
        reader.start()
        try:
            await ready.wait_status(200, 120)
            parts = list(chunks(inputs, 20))

            async def trickle() -> None:
                for part in parts:
                    await publish_records(settings, part)
                    await asyncio.sleep(0.25)

            publisher = asyncio.create_task(trickle())
            await reader.wait(
                lambda: reader.count >= oracle.outputs // 5, 120, "a fifth of outputs"
            )
            stopped_at = time.monotonic()
            own.freeze()
            try:
                await asyncio.sleep(stall_s)
            finally:
                own.thaw()
            resumed_at = time.monotonic()
            figures.stalls = 1
            await publisher
            await reader.wait(reader.complete, DRAIN_TIMEOUT_S)
            back = await ready.wait_status(200, 120, after=resumed_at)
            window = ready.between(stopped_at, resumed_at + 8.0)
            not_ready = [s for s in window if s[1] == 503]
            alive = worker.process.poll() is None
            worker.signal(signal.SIGTERM)
            code = await wait_exit(worker, 60)
            await reader.settle()
        finally:
            worker.stop()
            await ready.stop()
            await reader.stop()
    reader.fill(figures)
    figures.workers = 1
    facts = StallFacts(
        not_ready_after_stop_s=not_ready[0][0] - stopped_at if not_ready else None,
        ready_after_cont_s=back - resumed_at,
        failing=Counter(name for _, _, failing in not_ready for name in failing),
        samples_during=len(window),
        worker_pid_kept=alive and worker.process.pid == pid,
        exit_code=code,
    )
    first = f"{facts.not_ready_after_stop_s:.1f} s" if not_ready else "never"
    figures.notes.append(
        f"/readyz 503 {first} after SIGSTOP (failing: {', '.join(sorted(facts.failing)) or '-'}),"
        f" 200 again {facts.ready_after_cont_s:.1f} s after SIGCONT, same worker process,"
        f" exit {code} on SIGTERM"
    )
    scan_logs([worker.log_path], sensitive(inputs), figures)
    figures.seconds = time.monotonic() - started
    return figures, facts


# -- broker loss: a new, empty broker at the same address --------------------------------------

#: What every "the broker lost our data" stop says (docs/reliability.md).
LOST_DATA = "(topics deleted, or the broker replaced by an empty one): stopped without committing"


@dataclass
class LossFacts:
    exit_code: int
    seconds_to_exit: float
    last_line: str
    error_lines: int
    committed_before: dict[int, int]
    committed_on_new_broker: dict[int, int]
    ends_on_new_broker: dict[int, int]
    not_ready_seen: bool


async def broker_loss(
    kind: BrokerKind, workdir: Path, *, records: int, recreate: bool, seed: int = 303
) -> tuple[Figures, LossFacts]:
    """SIGKILL the broker mid-stream and start an empty one at the same address. The worker
    must stop with one line and commit nothing on the new broker.

    With `recreate`, the worker is frozen (SIGSTOP) while the broker is replaced and its
    topics are created again on the new one (an operator's `topics ensure`, or a broker's
    auto-creation) with a little new input: the topics exist, but their offsets went
    backwards, which the worker must notice as well.
    """
    started = time.monotonic()
    name = f"loss-{kind}" + ("-recreated" if recreate else "")
    inputs = stream(records, seed)
    with own_broker(kind) as own:
        settings = scenario_settings(
            own.broker.bootstrap_servers,
            workdir,
            name,
            session_timeout_ms=session_timeout_ms(own.broker),
        )
        figures = Figures(
            f"broker loss ({kind})" + (", topics recreated" if recreate else ""),
            f"{records:,} records, broker replaced by an empty one"
            + (", topics recreated" if recreate else ""),
            own.broker.describe(),
        )
        await create_topics(settings)
        await publish_records(settings, inputs)
        figures.inputs = records
        http_port = free_port()
        worker = WorkerProcess(
            worker_env(settings, http_port=http_port, max_batch_records=100), workdir, name
        )
        ready = ReadinessLog(http_port)
        ready.start()
        try:
            await ready.wait_status(200, 90)
            committed: dict[int, int] = {}

            async def progressed() -> bool:
                committed.update(await committed_offsets(settings, settings.topic_partitions))
                return sum(o for o in committed.values() if o > 0) > 0

            await eventually(progressed, 60, "a first commit")
            if recreate:
                worker.signal(signal.SIGSTOP)
            own.kill()
            killed_at = time.monotonic()
            await asyncio.sleep(1.0)
            await asyncio.to_thread(own.start_empty)
            replaced_at = time.monotonic()
            if recreate:
                await create_topics(settings)
                await publish_records(settings, stream(30, seed + 1))
                worker.signal(signal.SIGCONT)
            code = await wait_exit(worker, 120)
            exited_at = time.monotonic()
            # What a probe sees next: a worker that stopped within a poll of noticing the loss
            # was never sampled as 503, but it no longer answers, which is not ready too.
            await asyncio.sleep(2 * ready.interval_s)
        finally:
            with contextlib.suppress(ProcessLookupError):
                worker.signal(signal.SIGCONT)
            worker.stop()
            await ready.stop()
        not_ready = any(status != 200 for at, status, _ in ready.samples if at > killed_at)
        lines = [line for line in worker.log_text().splitlines() if line.strip()]
        on_second = await committed_offsets(settings, settings.topic_partitions)
        ends = await end_offsets(settings, settings.topic_partitions) if recreate else {}
    facts = LossFacts(
        exit_code=code,
        seconds_to_exit=exited_at - replaced_at,
        last_line=lines[-1] if lines else "",
        error_lines=sum(1 for line in lines if line.startswith("Error:")),
        committed_before=committed,
        committed_on_new_broker=on_second,
        ends_on_new_broker=ends,
        not_ready_seen=not_ready,
    )
    figures.workers = 1
    figures.notes.append(
        f"worker exited {code} {facts.seconds_to_exit:.1f} s after the new broker was up, "
        f"committed on it: {on_second}: `{facts.last_line}`"
    )
    scan_logs([worker.log_path], sensitive(inputs), figures)
    figures.seconds = time.monotonic() - started
    return figures, facts


async def start_without_topics(workdir: Path) -> tuple[int, str, list[str]]:
    """A worker started where its topics do not exist: (exit code, last line, topics after)."""
    broker = start_tansu()
    try:
        settings = scenario_settings(broker.bootstrap_servers, workdir, "no-topics")
        worker = WorkerProcess(worker_env(settings), workdir, "no-topics")
        code = await wait_exit(worker, 60)
        lines = [line for line in worker.log_text().splitlines() if line.strip()]
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
        await admin.start()
        try:
            topics = sorted(await admin.list_topics())
        finally:
            await admin.close()
    finally:
        broker.stop()
    return code, lines[-1] if lines else "", topics


# -- rebalance churn ---------------------------------------------------------------------------


async def rebalance_churn(
    broker: RunningBroker,
    workdir: Path,
    *,
    records: int,
    changes: int,
    interval_s: float = 3.0,
    max_workers: int = 3,
    seed: int = 404,
    partitions: int = 6,
) -> Figures:
    """Workers join and leave (SIGTERM: drain, commit, leave the group) every `interval_s`
    while input keeps arriving; every leaver must exit 0 and nothing may be lost."""
    started = time.monotonic()
    settings = scenario_settings(
        broker.bootstrap_servers,
        workdir,
        "churn",
        partitions=partitions,
        session_timeout_ms=session_timeout_ms(broker),
    )
    await create_topics(settings)
    inputs = stream(records, seed)
    oracle = Oracle.build(inputs, settings.numbers)
    figures = Figures(
        "rebalance churn",
        f"{records:,} records, {changes} joins/leaves every {interval_s:g} s",
        broker.describe(),
    )
    env = worker_env(settings, max_batch_records=200)
    rng = random.Random(seed)
    reader = OutputReader(settings, oracle)
    reader.start()
    parts = list(chunks(inputs, changes + 1))
    workers: list[WorkerProcess] = []
    everyone: list[WorkerProcess] = []
    leavers: list[asyncio.Task[int]] = []
    joins = leaves = 0

    def join() -> None:
        worker = WorkerProcess(env, workdir, f"churn-{len(everyone):03d}")
        workers.append(worker)
        everyone.append(worker)

    try:
        join()
        for i in range(changes):
            await publish_records(settings, parts[i])
            await asyncio.sleep(interval_s)
            # Leavers are members: a process stopped while it still starts just ends (-15).
            members = [w for w in workers if "partitions assigned" in w.log_text()]
            if (
                len(workers) < 2
                or not members
                or (len(workers) < max_workers and rng.random() < 0.5)
            ):
                join()
                joins += 1
            else:
                leaver = rng.choice(members)
                workers.remove(leaver)
                leaver.signal(signal.SIGTERM)
                leavers.append(asyncio.create_task(wait_exit(leaver, 90)))
                leaves += 1
        for part in parts[changes:]:
            await publish_records(settings, part)
        for worker in workers:
            assert await wait_logged(worker, "partitions assigned", 90), worker.log_text()[-3000:]
            worker.signal(signal.SIGTERM)
            leavers.append(asyncio.create_task(wait_exit(worker, 90)))
        codes = await asyncio.gather(*leavers)
        final = WorkerProcess(env, workdir, "churn-final", "--exit-when-drained")
        everyone.append(final)
        code = await wait_exit(final, DRAIN_TIMEOUT_S)
        assert code == 0, final.log_text()[-3000:]
        await reader.wait(reader.complete, 60)
        await reader.settle()
    finally:
        for worker in everyone:
            worker.stop()
        await reader.stop()
    reader.fill(figures)
    figures.workers = len(everyone)
    bad = [c for c in codes if c != 0]
    figures.notes.append(
        f"{joins} joins, {leaves} leaves; leavers' exit codes: {dict(Counter(codes))}"
    )
    assert not bad, f"workers that left did not exit 0: {bad}"
    scan_logs([w.log_path for w in everyone], sensitive(inputs), figures)
    figures.seconds = time.monotonic() - started
    return figures


# -- an output the broker refuses --------------------------------------------------------------

#: The dead-letter topic of this scenario takes at most 1 MiB per record batch at first.
SMALL_DLQ_BYTES = 1024 * 1024
#: Incompressible (base64 of random bytes): outputs are compressed (zstd by default), and the
#: broker checks `max.message.bytes` against the compressed batch.
BIG_MALFORMED = b'{"object":"whatsapp_business_account","entry":[' + base64.b64encode(
    random.Random(573).randbytes(3 * 512 * 1024)
)


@dataclass
class RefusedFacts:
    exit_code: int
    last_line: str
    error_lines: int
    big_partition: int
    big_offset: int
    committed_after_failure: dict[int, int]
    big_in_dlq_before_fix: bool
    restart_exit_code: int


async def output_refused(
    broker: RunningBroker, workdir: Path, *, records: int = 600, seed: int = 505
) -> tuple[Figures, RefusedFacts]:
    """A 2 MB malformed body must be dead-lettered, but the dead-letter topic takes 1 MiB: the
    worker must stop with one line and commit nothing from that record on; once the topic is
    fixed, a restart dead-letters it and goes on (needs a broker that enforces
    `max.message.bytes` and has `alter_configs`: Apache Kafka)."""
    started = time.monotonic()
    settings = scenario_settings(
        broker.bootstrap_servers,
        workdir,
        "refused",
        session_timeout_ms=session_timeout_ms(broker),
    )
    await create_topics(settings, dlq_max_bytes=SMALL_DLQ_BYTES)
    before, after = stream(records // 2, seed), stream(records - records // 2, seed + 1)
    big = signed_meta(b"big", BIG_MALFORMED)
    inputs = [*before, big, *after]
    oracle = Oracle.build(inputs, settings.numbers)
    (big_id,) = Oracle.build([big], settings.numbers).expected
    figures = Figures(
        "output refused",
        f"{len(inputs):,} records, one 2 MB dead letter, DLQ max 1 MiB",
        broker.describe(),
    )
    await publish_records(settings, before)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, max_request_size=5 * 1024 * 1024
    )
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            settings.raw_topic, big.value, key=big.key, headers=big.headers
        )
    finally:
        await producer.stop()
    await publish_records(settings, after)
    env = worker_env(settings, max_batch_records=100)
    reader = OutputReader(settings, oracle)
    reader.start()
    try:
        worker = WorkerProcess(env, workdir, "refused")
        code = await wait_exit(worker, 120)
        lines = [line for line in worker.log_text().splitlines() if line.strip()]
        committed = await committed_offsets(settings, settings.topic_partitions)
        await reader.settle(quiet_s=1.0)
        big_early = reader.seen[big_id] > 0
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
        await admin.start()
        try:
            resource = ConfigResource(
                ConfigResourceType.TOPIC,
                settings.dlq_topic,
                configs={"max.message.bytes": str(5 * 1024 * 1024)},
            )
            await admin.alter_configs([resource])
        finally:
            await admin.close()
        await asyncio.sleep(1.0)  # the new limit reaches the partition leader
        fixed = WorkerProcess(env, workdir, "refused-fixed", "--exit-when-drained")
        restart_code = await wait_exit(fixed, DRAIN_TIMEOUT_S)
        await reader.wait(reader.complete, 60)
        await reader.settle()
    finally:
        await reader.stop()
    reader.fill(figures)
    figures.workers = 2
    facts = RefusedFacts(
        exit_code=code,
        last_line=lines[-1] if lines else "",
        error_lines=sum(1 for line in lines if line.startswith("Error:")),
        big_partition=sent.partition,
        big_offset=sent.offset,
        committed_after_failure=committed,
        big_in_dlq_before_fix=big_early,
        restart_exit_code=restart_code,
    )
    scan_logs([worker.log_path, fixed.log_path], sensitive(inputs), figures)
    figures.notes.append(
        f"first worker exited {code}: {facts.last_line[:110]}...; partition "
        f"{sent.partition} committed up to {committed.get(sent.partition)} (the big record is "
        f"offset {sent.offset}); after raising the limit a restart dead-lettered it, exit "
        f"{restart_code}"
    )
    figures.seconds = time.monotonic() - started
    return figures, facts


# -- bodies at and over Meta's 3 MB limit ------------------------------------------------------


def signed_meta(key: bytes, body: bytes) -> GeneratedRecord:
    return GeneratedRecord(
        key, body, [("webhook-source", b"meta"), (META_HEADER, sign_meta(body, SECRETS.meta))]
    )


async def large_bodies(broker: RunningBroker, workdir: Path) -> Figures:
    """A valid body of exactly 3 MiB (thousands of outputs), a malformed one of 3 MiB and one
    byte over the limit, through the broker and a worker: the raw topic and the dead-letter
    topic take them, the valid one is processed, the others are dead-lettered."""
    started = time.monotonic()
    settings = scenario_settings(
        broker.bootstrap_servers, workdir, "large", session_timeout_ms=session_timeout_ms(broker)
    )
    await create_topics(settings)
    valid = history_body(MAX_BODY_BYTES)
    inputs = [
        signed_meta(b"valid-3mib", valid),
        signed_meta(b"truncated-3mib", valid[:-1] + b" "),  # a body cut short: invalid JSON
        signed_meta(b"over-3mib", valid + b" "),  # one byte over Meta's limit
        *stream(200, 606),
    ]
    oracle = Oracle.build(inputs, settings.numbers)
    figures = Figures(
        "3 MiB bodies", "valid 3 MiB, malformed 3 MiB, 3 MiB + 1 byte", broker.describe()
    )
    reader = OutputReader(settings, oracle)
    reader.start()
    try:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap_servers, max_request_size=5 * 1024 * 1024
        )
        await producer.start()
        try:
            for record in inputs[:3]:
                await producer.send_and_wait(
                    settings.raw_topic, record.value, key=record.key, headers=record.headers
                )
        finally:
            await producer.stop()
        await publish_records(settings, inputs[3:])
        worker = WorkerProcess(worker_env(settings), workdir, "large", "--exit-when-drained")
        code = await wait_exit(worker, DRAIN_TIMEOUT_S)
        assert code == 0, worker.log_text()[-3000:]
        await reader.wait(reader.complete, 60)
        await reader.settle()
    finally:
        await reader.stop()
    reader.fill(figures)
    figures.workers = 1
    scan_logs([worker.log_path], sensitive(inputs), figures)
    outputs_of_valid = len(oracle.per_input[0])
    figures.notes.append(f"the valid 3 MiB body gave {outputs_of_valid:,} identity events")
    figures.seconds = time.monotonic() - started
    return figures


# -- what reaches the logs ---------------------------------------------------------------------


async def log_hygiene(
    broker: RunningBroker, workdir: Path, *, records: int, seed: int = 707
) -> tuple[Figures, int]:
    """A worker at debug level on signed traffic (plus records signed with a wrong secret, and
    control records whose malformed numbers are customer phones, which it logs as errors):
    no log line may show a phone number, a message text, a secret or a signature. Returns
    the figures and how many control-record errors were logged."""
    started = time.monotonic()
    settings = scenario_settings(
        broker.bootstrap_servers, workdir, "logs", session_timeout_ms=session_timeout_ms(broker)
    )
    await create_topics(settings)
    inputs = stream(records, seed)
    forged = [
        GeneratedRecord(r.key, r.value, [("x-hub-signature-256", sign_meta(r.value, b"forged"))])
        for r in stream(50, seed + 1)
    ]
    probe = sensitive(inputs)
    phones = sorted(probe.phones)[:3]
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    await producer.start()
    try:
        for phone in phones:  # a number typed without its "+": invalid, and logged
            body = json.dumps(
                {
                    "number": phone,
                    "phone_number_id": "1",
                    "scope": "acme",
                    "bsuid_enabled": True,
                    "effectiveAt": "2026-06-01T00:00:00Z",
                }
            ).encode()
            await producer.send_and_wait(settings.control_topic, body, key=phone.encode())
    finally:
        await producer.stop()
    await publish_records(settings, [*inputs, *forged])
    figures = Figures(
        "log hygiene",
        f"{records:,} signed records + 50 forged + {len(phones)} bad control records, debug logs",
        broker.describe(),
        inputs=records + len(forged) + len(phones),
    )
    worker = WorkerProcess(
        worker_env(settings, log_level="debug", max_batch_records=50),
        workdir,
        "logs",
        "--exit-when-drained",
    )
    code = await wait_exit(worker, DRAIN_TIMEOUT_S)
    assert code == 0, worker.log_text()[-3000:]
    text = worker.log_text()
    control_errors = text.count("invalid control record")
    figures.workers = 1
    scan_logs([worker.log_path], sensitive([*inputs, *forged]), figures)
    figures.notes.append(
        f"{len(probe.phones):,} phones, {len(probe.texts)} texts, "
        f"{len(probe.signatures):,} signatures looked for; {control_errors} control-record "
        "errors logged"
    )
    figures.seconds = time.monotonic() - started
    return figures, control_errors
