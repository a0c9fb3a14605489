"""Exactly-once processing on Apache Kafka: outputs and input offsets in one transaction.

aiokafka's `send_offsets_to_transaction` passes only the group id, not the member's
generation, so KIP-447 fencing by group metadata is not available. Zombies are fenced the
older way, as Kafka Streams did before KIP-447: one transactional producer per input
partition, its transactional id derived from that partition. Whoever is assigned the
partition next starts a producer with the same id, which bumps the epoch, aborts (or
completes) the previous owner's open transaction and fences any later write from it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka.errors import IllegalOperation, InvalidProducerEpoch, KafkaError, ProducerFenced
from aiokafka.structs import TopicPartition

from processor.core.records import OutputRecord
from processor.kafka.sink import OutputSink, make_producer
from processor.kafka.worker import Worker, WorkerError

log = structlog.get_logger("processor.transactions")


class TransactionsUnsupportedError(WorkerError):
    """The broker cannot do transactions: exactly-once is refused, never faked."""


@dataclass
class PartitionTransaction:
    """The transactional producer of one input partition and its open transaction."""

    producer: Any
    sink: OutputSink
    open: bool = False
    opened_at: float = 0.0
    records: int = 0
    next_offset: int | None = None
    futures: list[asyncio.Future[Any]] = field(default_factory=list)

    async def begin(self) -> None:
        if not self.open:
            await self.producer.begin_transaction()
            self.open, self.opened_at = True, time.monotonic()

    async def commit(self, tp: TopicPartition, group_id: str) -> None:
        if not self.open:
            return
        # Every output of the transaction is acknowledged before its offsets join it.
        await asyncio.gather(*self.futures)
        if self.next_offset is not None:
            await self.producer.send_offsets_to_transaction({tp: self.next_offset}, group_id)
        await self.producer.commit_transaction()
        self._reset()

    async def abort(self) -> None:
        self.sink.discard()
        was_open = self.open
        self._reset()
        if was_open:
            await self.producer.abort_transaction()

    def _reset(self) -> None:
        for future in self.futures:
            # The outcome no longer matters; retrieve it so asyncio does not report it.
            future.add_done_callback(_retrieve)
        self.open, self.records, self.next_offset, self.futures = False, 0, None, []


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


#: Errors saying another producer took over this transactional id.
FENCED = (ProducerFenced, InvalidProducerEpoch)


class ExactlyOnceWorker(Worker):
    """The worker with per-partition transactions instead of ack-gated offset commits."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._transactions: dict[TopicPartition, PartitionTransaction] = {}
        #: Next offset to process per partition: a fetch issued before a seek can still hand
        #: over records already processed (or older than the committed offset).
        self._next: dict[TopicPartition, int] = {}
        self._prefix = self.settings.transactional_id_prefix or self.settings.group_id

    # -- lifecycle ---------------------------------------------------------------------------

    async def _start(self) -> None:
        if not self.commits:
            raise WorkerError("setting guarantee: exactly-once needs a consumer group (--group)")
        await self._check_transactions_supported()
        await super()._start()

    async def _check_transactions_supported(self) -> None:
        probe = make_producer(
            self.settings, transactional_id=f"{self._prefix}-probe-{uuid.uuid4()}"
        )
        try:
            await asyncio.wait_for(probe.start(), 15)
            await asyncio.wait_for(probe.begin_transaction(), 15)
            await probe.abort_transaction()
        except (KafkaError, TimeoutError) as exc:
            raise TransactionsUnsupportedError(
                "setting guarantee: exactly-once needs a broker with transactions "
                f"(this one answered {exc!r}); use --guarantee at-least-once"
            ) from None
        finally:
            await probe.stop()

    async def _close(self) -> None:
        transactions, self._transactions = list(self._transactions.values()), {}
        for transaction in transactions:
            await transaction.producer.stop()
        await super()._close()

    # -- processing --------------------------------------------------------------------------

    def _accept(self, tp: TopicPartition, messages: list[Any]) -> list[Any]:
        floor = self._next.get(tp)
        if floor is None:
            return []  # not ours yet: _on_assigned has not run for it
        fresh = [m for m in messages if m.offset >= floor]
        if fresh:
            self._next[tp] = fresh[-1].offset + 1
        return fresh

    def _emit_for(self, tp: TopicPartition) -> Callable[[OutputRecord], None]:
        return self._transactions[tp].sink.add

    async def _publish(self, offsets: dict[TopicPartition, int], count: int, size: int) -> None:
        del count, size
        for tp, next_offset in offsets.items():
            transaction = self._transactions[tp]
            try:
                await transaction.begin()
                transaction.records += transaction.sink.pending_records
                transaction.futures += await transaction.sink.flush()
            except FENCED:
                raise self._fenced(tp) from None
            except (KafkaError, IllegalOperation) as exc:
                # IllegalOperation: the sender already ended the transaction on an error (a
                # fence included); aborting tells which.
                log.warning("transaction failed, aborting", partition=tp.partition, error=repr(exc))
                await self._abort_and_rewind(tp)
                continue
            transaction.next_offset = next_offset

    async def _collect_and_commit(self, force: bool = False) -> None:
        now = time.monotonic()
        limit_records = self.settings.transaction_max_records
        limit_s = self.settings.transaction_interval_ms / 1000
        due = [
            tp
            for tp, t in self._transactions.items()
            if t.open and (force or t.records >= limit_records or now - t.opened_at >= limit_s)
        ]
        if due:
            await asyncio.gather(*(self._commit_partition(tp) for tp in due))

    async def _commit_partition(self, tp: TopicPartition) -> None:
        try:
            await self._transactions[tp].commit(tp, self.settings.group_id)
        except FENCED:
            raise self._fenced(tp) from None
        except (KafkaError, IllegalOperation) as exc:
            log.warning("transaction failed, aborting", partition=tp.partition, error=repr(exc))
            await self._abort_and_rewind(tp)
        else:
            self.health.commits += 1

    async def _abort_and_rewind(self, tp: TopicPartition) -> None:
        """Abort: nothing of it is visible to read_committed readers; read it all again."""
        self.health.commit_failures += 1
        transaction = self._transactions[tp]
        # aiokafka puts a fenced producer (ProducerFenced, InvalidProducerEpoch raised in its
        # sender task) in a fatal state where abort_transaction() fails an assertion; it has no
        # public way to ask, hence the private attribute.
        if transaction.producer._txn_manager.is_fatal_error():
            raise self._fenced(tp)
        try:
            await transaction.abort()
        except FENCED:
            raise self._fenced(tp) from None
        except (KafkaError, IllegalOperation) as exc:
            # The producer is stuck: a restart aborts the open transaction (same id) safely.
            raise WorkerError(
                f"transaction of partition {tp.partition} cannot be aborted: {exc!r}"
            ) from None
        await self._seek_to_committed(tp)

    def _fenced(self, tp: TopicPartition) -> WorkerError:
        return WorkerError(
            f"fenced: another worker now owns partition {tp.partition} "
            f"(transactional id {self._transactional_id(tp)}); stopping"
        )

    async def _seek_to_committed(self, tp: TopicPartition) -> None:
        committed = await self.consumer.committed(tp)
        if committed is None:
            await self.consumer.seek_to_beginning(tp)
            committed = (await self.consumer.beginning_offsets([tp]))[tp]
        else:
            self.consumer.seek(tp, committed)
        self._next[tp] = committed

    async def _drain_and_commit(self, limit_s: float) -> None:
        self.health.phase = "draining"
        async with self._batch_lock:
            await asyncio.wait_for(self._collect_and_commit(force=True), limit_s)

    # -- rebalances --------------------------------------------------------------------------

    def _transactional_id(self, tp: TopicPartition) -> str:
        return f"{self._prefix}-{tp.topic}-{tp.partition}"

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        self.health.rebalances += 1
        async with self._batch_lock:
            await asyncio.gather(
                *(self._commit_partition(tp) for tp in revoked if tp in self._transactions)
            )
            for tp in revoked:
                self._next.pop(tp, None)
                transaction = self._transactions.pop(tp, None)
                if transaction is not None:
                    await transaction.producer.stop()
            self._assigned -= revoked
        log.info("partitions revoked", partitions=sorted(tp.partition for tp in revoked))

    async def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        # Under the batch lock: no batch of these partitions is processed half-set-up.
        async with self._batch_lock:
            for tp in assigned - set(self._transactions):
                producer = make_producer(self.settings, transactional_id=self._transactional_id(tp))
                # Starting fences the previous owner and settles its open transaction ...
                await producer.start()
                sink = OutputSink(producer, self.sink.topics)
                await sink.refresh_partitions()
                self._transactions[tp] = PartitionTransaction(producer, sink)
            if self.bounds is None:
                # ... so only now do the committed offsets say where its work ended.
                for tp in assigned:
                    await self._seek_to_committed(tp)
            else:
                for tp in assigned:
                    self._next[tp] = await self.consumer.position(tp)
        await super()._on_assigned(assigned)
