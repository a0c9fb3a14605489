"""Exactly-once delivery (Apache Kafka): outputs and input offsets in one transaction.

aiokafka's `send_offsets_to_transaction` passes only the group id, not the member's
generation, so KIP-447 fencing by group metadata is not available. Zombies are fenced the
older way, as Kafka Streams did before KIP-447: one transactional producer per input
partition, its transactional id derived from that partition. Whoever is assigned the
partition next starts a producer with the same id, which bumps the epoch, aborts (or
completes) the previous owner's open transaction and fences any later write from it. A
handler's after-records (a state changelog) join the same transaction as its outputs.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka.errors import IllegalOperation, InvalidProducerEpoch, KafkaError, ProducerFenced
from aiokafka.structs import TopicPartition

from processor.runtime.aiokafka_private import producer_is_fenced
from processor.runtime.clients import make_producer
from processor.runtime.delivery import DeliveryBase
from processor.runtime.errors import StageError, TransactionsUnsupportedError
from processor.runtime.handler import Outputs
from processor.runtime.sink import Sent, Sink

log = structlog.get_logger("processor.transactions")

#: Errors saying another producer took over this transactional id.
FENCED = (ProducerFenced, InvalidProducerEpoch)


@dataclass
class PartitionTransaction:
    """The transactional producer of one input partition and its open transaction."""

    producer: Any
    outputs: Outputs
    open: bool = False
    opened_at: float = 0.0
    records: int = 0
    next_offset: int | None = None
    futures: list[asyncio.Future[Any]] = field(default_factory=list)
    #: After-record batches of the open transaction: reported to the handler once committed.
    logged: list[Sent] = field(default_factory=list)
    #: One commit or abort at a time: the loop's timed commit and a rebalance's commit of
    #: the same transaction would otherwise race inside aiokafka's transaction manager.
    ending: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def add(self) -> None:
        """Hand the buffered outputs, then the after-records, to the open transaction."""
        if not self.open:
            await self.producer.begin_transaction()
            self.open, self.opened_at = True, time.monotonic()
        sink = self.outputs.sink
        self.records += sink.pending
        self.futures += [sent.future for sent in await sink.flush()]
        for topic, partition, record in self.outputs.take_after():
            sink.add(topic, record, partition)
        after = await sink.flush()
        self.logged += after
        self.futures += [sent.future for sent in after]

    async def commit(self, tp: TopicPartition, group_id: str) -> list[tuple[Sent, Any]]:
        """Commit; the after-record batches with their metadata, to report."""
        if not self.open:
            return []
        # Every output of the transaction is acknowledged before its offsets join it.
        await asyncio.gather(*self.futures)
        if self.next_offset is not None:
            await self.producer.send_offsets_to_transaction({tp: self.next_offset}, group_id)
        await self.producer.commit_transaction()
        logged = [(sent, sent.future.result()) for sent in self.logged]
        self._reset()
        return logged

    async def abort(self) -> None:
        self.outputs.discard()
        was_open = self.open
        self._reset()
        if was_open:
            await self.producer.abort_transaction()

    def _reset(self) -> None:
        for future in self.futures:
            # The outcome no longer matters; retrieve it so asyncio does not report it.
            future.add_done_callback(_retrieve)
        self.open, self.records, self.next_offset = False, 0, None
        self.futures, self.logged = [], []


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class ExactlyOnce(DeliveryBase):
    """Per-partition transactions instead of ack-gated offset commits."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._transactions: dict[TopicPartition, PartitionTransaction] = {}
        #: Next offset to process per partition: records fetched before a seek (handed over
        #: while the batch waited for the lock) may be older than where the partition now is.
        self._next: dict[TopicPartition, int] = {}
        self._topics: set[str] = set()
        self._lost: set[TopicPartition] = set()
        self._prefix = self.settings.transactional_id_prefix or self.settings.group_id

    async def start(self) -> None:
        if not self.commits:
            raise StageError("setting guarantee: exactly-once needs a consumer group (--group)")
        # First the plain producer: a broker that is down is reported as unreachable, not as
        # one without transactions.
        await self.producer.start()
        probe = make_producer(
            self.settings, transactional_id=f"{self._prefix}-probe-{uuid.uuid4()}"
        )
        try:
            async with asyncio.timeout(15):
                await probe.start()
            async with asyncio.timeout(15):
                await probe.begin_transaction()
            await probe.abort_transaction()
        except (KafkaError, TimeoutError) as exc:
            raise TransactionsUnsupportedError(
                "setting guarantee: exactly-once needs a broker with transactions "
                f"(this one answered {exc!r}); use --guarantee at-least-once"
            ) from None
        finally:
            await probe.stop()

    async def learn(self, topics: Iterable[str]) -> None:
        self._topics = set(topics)
        for transaction in self._transactions.values():
            await transaction.outputs.sink.learn(self._topics)

    def accept(self, tp: TopicPartition, messages: list[Any]) -> list[Any]:
        floor = self._next.get(tp)
        if floor is None:
            return []  # not ours yet: `assigned` has not run for it
        fresh = (
            messages if messages[0].offset >= floor else [m for m in messages if m.offset >= floor]
        )
        if fresh:
            self._next[tp] = fresh[-1].offset + 1
        return fresh

    def outputs(self, tp: TopicPartition) -> Outputs:
        return self._transactions[tp].outputs

    async def publish(self, offsets: dict[TopicPartition, int], records: int, size: int) -> None:
        del records, size
        for tp, next_offset in offsets.items():
            transaction = self._transactions[tp]
            try:
                await transaction.add()
            except FENCED:
                raise self._fenced(tp) from None
            except (KafkaError, IllegalOperation) as exc:
                # IllegalOperation: the sender already ended the transaction on an error (a
                # fence included); aborting tells which.
                log.warning("transaction failed, aborting", partition=tp.partition, error=repr(exc))
                await self._abort(tp)
                continue
            transaction.next_offset = next_offset

    def backlogged(self) -> bool:
        return False  # each transaction commits within its interval or record limit

    async def wait_oldest(self) -> None:
        return None

    def idle(self) -> bool:
        return not any(t.open for t in self._transactions.values())

    def in_flight_records(self) -> int:
        return sum(t.records for t in self._transactions.values())

    async def commit_due(self, force: bool = False) -> set[TopicPartition]:
        now = time.monotonic()
        limit_records = self.settings.transaction_max_records
        limit_s = self.settings.transaction_interval_ms / 1000
        due = [
            tp
            for tp, t in self._transactions.items()
            if t.open and (force or t.records >= limit_records or now - t.opened_at >= limit_s)
        ]
        if due:
            await asyncio.gather(*(self._commit(tp) for tp in due))
        lost, self._lost = self._lost, set()
        return lost

    async def _commit(self, tp: TopicPartition) -> bool:
        transaction = self._transactions.get(tp)
        if transaction is None:
            return True  # revoked meanwhile: the rebalance committed it
        async with transaction.ending:
            if not transaction.open:
                return True  # committed meanwhile (by a rebalance, or the loop)
            next_offset = transaction.next_offset
            try:
                logged = await transaction.commit(tp, self.settings.group_id)
            except FENCED:
                raise self._fenced(tp) from None
            except (KafkaError, IllegalOperation) as exc:
                log.warning("transaction failed, aborting", partition=tp.partition, error=repr(exc))
                await self._abort(tp)
                return False
        self.health.commits += 1
        if next_offset is not None:
            self.acked[tp] = next_offset
            self.guard.committed({tp: next_offset})
        for sent, meta in logged:
            self.handler.logged(sent.topic, sent.partition, meta.offset + sent.records)
        return True

    async def _abort(self, tp: TopicPartition) -> None:
        """Abort: nothing of it is visible to read_committed readers; it is all read again."""
        self.health.commit_failures += 1
        transaction = self._transactions[tp]
        if producer_is_fenced(transaction.producer):
            raise self._fenced(tp)
        try:
            await transaction.abort()
        except FENCED:
            raise self._fenced(tp) from None
        except (KafkaError, IllegalOperation) as exc:
            # The producer is stuck: a restart aborts the open transaction (same id) safely.
            raise StageError(
                f"transaction of partition {tp.partition} cannot be aborted: {exc!r}"
            ) from None
        self._lost.add(tp)

    def _fenced(self, tp: TopicPartition) -> StageError:
        return StageError(
            f"fenced: another worker now owns partition {tp.partition} "
            f"(transactional id {self._transactional_id(tp)}); stopping"
        )

    async def rewind(self, partitions: set[TopicPartition]) -> None:
        self.health.rewinds += 1
        for tp in partitions & self.consumer.assignment():
            await self._seek_to_committed(tp)

    async def _seek_to_committed(self, tp: TopicPartition) -> None:
        position = await self.consumer.committed(tp)
        if position is None:
            position = self.starts.get(tp)
        if position is None:
            await self.consumer.seek_to_beginning(tp)
            position = (await self.consumer.beginning_offsets([tp]))[tp]
        else:
            self.consumer.seek(tp, position)
        self._next[tp] = position

    def _transactional_id(self, tp: TopicPartition) -> str:
        return f"{self._prefix}-{tp.topic}-{tp.partition}"

    async def assigned(self, partitions: set[TopicPartition], *, seek: bool) -> None:
        new = sorted(partitions - set(self._transactions))
        producers = [
            make_producer(self.settings, transactional_id=self._transactional_id(tp)) for tp in new
        ]
        # Starting fences the previous owner and settles its open transaction ...
        await asyncio.gather(*(producer.start() for producer in producers))
        for tp, producer in zip(new, producers, strict=True):
            sink = Sink(producer)
            await sink.learn(self._topics)
            self._transactions[tp] = PartitionTransaction(producer, Outputs(sink))
        for tp in partitions:
            if seek:
                # ... so only now do the committed offsets say where its work ended.
                await self._seek_to_committed(tp)
            else:
                self._next[tp] = await self.consumer.position(tp)

    async def revoked(self, partitions: set[TopicPartition]) -> bool:
        committed = await asyncio.gather(
            *(self._commit(tp) for tp in partitions if tp in self._transactions)
        )
        for tp in partitions:
            self._next.pop(tp, None)
            self.acked.pop(tp, None)
            transaction = self._transactions.pop(tp, None)
            if transaction is not None:
                await transaction.producer.stop()
        return all(committed)

    async def drain(self, limit_s: float) -> None:
        async with asyncio.timeout(limit_s):
            await self.commit_due(force=True)

    async def close(self, *, abandon: bool) -> None:
        transactions, self._transactions = list(self._transactions.values()), {}
        for transaction in transactions:
            await transaction.producer.stop()
        if not abandon:
            await self.producer.stop()
            return
        try:
            async with asyncio.timeout(5.0):
                await self.producer.stop()
        except TimeoutError:
            log.warning("producer not stopped in 5 s after the broker lost our data")
