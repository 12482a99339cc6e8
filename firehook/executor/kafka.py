"""Kafka mode: a consumer group on `firehook.runs`, results on `firehook.run-results`.

At-least-once delivery made safe, per executor group:
* only `dev.firehook.run.dispatched` starts work, keyed by (run, attempt);
* every event of the partition is read, and a dispatched attempt that a later event
  already moved on (a result applied, a new attempt, a cancel) is not started;
* after a rebalance, the redelivered part of a partition (up to its end at assignment)
  is read to its end before any of it starts, so results already applied are seen;
* an offset is committed only once every message before it is handled and its result
  produced and acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from aiokafka import (  # type: ignore[import-untyped]
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    TopicPartition,
)
from aiokafka.errors import KafkaError  # type: ignore[import-untyped]

from firehook.cloudevents import encode_event
from firehook.executor.api import RunsApi
from firehook.executor.attempts import Attempts, Outcome
from firehook.executor.handlers import Handler, Registry
from firehook.executor.runs import MovedOn, Run
from schemas.events import RUN_RESULT, RunResult

log = structlog.get_logger("firehook.executor")

DISPATCHED = "dev.firehook.run.dispatched"
CANCELLED = "dev.firehook.run.cancelled"
_RUN_EVENT = "dev.firehook.run."
_COMMIT_EVERY_SEC = 0.2


@dataclass(frozen=True, slots=True)
class _Candidate:
    tp: TopicPartition
    offset: int
    run: Run
    handler: Handler


class _Partition:
    """What this member knows of one assigned partition."""

    def __init__(self, catch_up_to: int) -> None:
        self.catch_up_to = catch_up_to
        self.next_offset: int | None = None
        self.pending: set[int] = set()
        self.held: list[_Candidate] = []
        self.committed: int | None = None

    @property
    def caught_up(self) -> bool:
        return self.next_offset is not None and self.next_offset >= self.catch_up_to

    def safe_offset(self) -> int | None:
        """The offset to commit: every message before it is handled."""
        if self.pending:
            return min(self.pending)
        return self.next_offset


class KafkaRuns:
    """Reads run events of one group member and runs the handlers of dispatched attempts."""

    def __init__(
        self,
        registry: Registry,
        attempts: Attempts,
        *,
        bootstrap_servers: str | list[str],
        group_id: str,
        runs_topic: str = "firehook.runs",
        results_topic: str = "firehook.run-results",
        max_pending: int = 1000,
        client_options: Mapping[str, Any] | None = None,
        enable_idempotence: bool = True,
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 3_000,
        source: str = "/firehook/executor",
        api_url: str | None = None,
        api_key: str | None = None,
    ) -> None:
        options = dict(client_options or {})
        self._registry = registry
        self._attempts = attempts
        self._runs_topic = runs_topic
        self._results_topic = results_topic
        self._max_pending = max_pending
        self._source = source
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            **options,
        )
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            acks="all",
            enable_idempotence=enable_idempotence,
            **options,
        )
        self._partitions: dict[TopicPartition, _Partition] = {}
        self._moved_on = MovedOn()
        self._queue: deque[_Candidate] = deque()
        self._queued = asyncio.Event()
        self._where: dict[tuple[str, int], tuple[TopicPartition, int]] = {}
        self._commit_wanted = asyncio.Event()
        # With the gateway's API, each attempt is also claimed: once per group, even
        # across a crash between a result and its commit.
        self._api = RunsApi(api_url, api_key) if api_url and api_key else None

    async def run(self, stop: asyncio.Event, drain_timeout: float) -> None:
        """Until `stop` is set; then drain the attempts in flight and commit."""
        await self._producer.start()
        try:
            await self._consumer.start()
            self._consumer.subscribe([self._runs_topic], listener=_Listener(self))
            helpers = [
                asyncio.create_task(self._start_queued(stop)),
                asyncio.create_task(self._commit_loop(stop)),
            ]
            try:
                await self._read(stop)
            finally:
                for task in helpers:
                    task.cancel()
                await asyncio.gather(*helpers, return_exceptions=True)
                cut = await self._attempts.drain(drain_timeout)
                if cut:
                    log.warning("handlers cut short at shutdown", count=cut)
                await self._commit()
                await self._consumer.stop()
        finally:
            await self._producer.stop()
            if self._api is not None:
                await self._api.close()

    async def _read(self, stop: asyncio.Event) -> None:
        paused = False
        while not stop.is_set():
            # Held candidates do not count: pausing would keep their partition from catching up.
            backlog = len(self._queue)
            if backlog >= self._max_pending and not paused:
                self._consumer.pause(*self._consumer.assignment())
                paused = True
            elif backlog < self._max_pending // 2 and paused:
                self._consumer.resume(*self._consumer.assignment())
                paused = False
            batch = await self._consumer.getmany(timeout_ms=200, max_records=1000)
            candidates: list[_Candidate] = []
            for tp, records in batch.items():
                partition = self._partitions.get(tp)
                if partition is None:
                    continue
                for record in records:
                    candidate = self._read_record(tp, record)
                    partition.next_offset = record.offset + 1
                    if candidate is not None:
                        partition.pending.add(record.offset)
                        candidates.append(candidate)
            for candidate in candidates:
                partition = self._partitions[candidate.tp]
                if partition.caught_up:
                    self._enqueue(candidate)
                else:
                    partition.held.append(candidate)
            for partition in self._partitions.values():
                if len(partition.held) > self._max_pending:
                    # A long redelivered stretch (a new group on an old topic): stop holding;
                    # the past-deadline and moved-on checks still apply to each run.
                    partition.catch_up_to = 0
                if partition.held and partition.caught_up:
                    held, partition.held = partition.held, []
                    for candidate in held:
                        self._enqueue(candidate)
            if batch:
                self._commit_wanted.set()

    def _read_record(self, tp: TopicPartition, record: Any) -> _Candidate | None:
        headers = {name: value for name, value in record.headers}
        ce_type = headers.get("ce_type", b"").decode("utf-8", "replace")
        if not ce_type.startswith(_RUN_EVENT):
            return None
        try:
            data = orjson.loads(record.value)
            run_id, attempt = str(data["runId"]), int(data["attempt"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("undecodable run event skipped", offset=record.offset, partition=tp)
            return None
        if ce_type != DISPATCHED:
            # Any later status of an attempt means it is no longer to start.
            self._moved_on.note(run_id, attempt)
            if ce_type == CANCELLED:
                self._attempts.cancel_run(run_id)
            return None
        if attempt > 1:
            # A newer attempt replaces the old ones.
            self._moved_on.note(run_id, attempt - 1)
        try:
            traceparent = headers.get("traceparent")
            run = Run.from_event(data, traceparent.decode() if traceparent else None)
        except (KeyError, TypeError, ValueError):
            log.warning("undecodable dispatched event skipped", offset=record.offset)
            return None
        run.link_issue = self._link_issue
        handler = self._registry.handler_for(run)
        if handler is None:
            return None
        return _Candidate(tp, record.offset, run, handler)

    def _enqueue(self, candidate: _Candidate) -> None:
        self._queue.append(candidate)
        self._queued.set()

    def _superseded(self, run: Run) -> bool:
        return self._moved_on.covers(run)

    async def _start_queued(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if not self._queue:
                self._queued.clear()
                await self._queued.wait()
                continue
            candidate = self._queue.popleft()
            partition = self._partitions.get(candidate.tp)
            if partition is None or candidate.offset not in partition.pending:
                continue  # revoked meanwhile: the partition's new owner takes it
            run = candidate.run
            if self._attempts.running(run.key):
                # Read again after a rebalance gave the partition back: still ours.
                self._where[run.key] = (candidate.tp, candidate.offset)
                continue
            left = run.seconds_left()
            if (
                self._superseded(run)
                or self._attempts.seen(run.key)
                or (left is not None and left <= 0)
            ):
                # Past its deadline the core times it out (and retries it as a new attempt).
                self._handled(candidate.tp, candidate.offset)
                continue
            self._where[run.key] = (candidate.tp, candidate.offset)
            await self._attempts.start(
                run,
                candidate.handler,
                self._report,
                self._done,
                claim=self._api.claim if self._api is not None else None,
            )

    def _done(self, run: Run) -> None:
        where = self._where.pop(run.key, None)
        if where is not None:
            self._handled(*where)

    def _handled(self, tp: TopicPartition, offset: int) -> None:
        partition = self._partitions.get(tp)
        if partition is not None:
            partition.pending.discard(offset)
            self._commit_wanted.set()

    async def _report(self, run: Run, outcome: Outcome) -> None:
        result = RunResult(
            run_id=run.id,
            status=outcome.status,
            output=outcome.output,
            error=outcome.error,
            attempt=run.attempt,
        )
        if not await self._produce_result(run, result, f"{run.id}:result:{run.attempt}"):
            # Not lost: the run times out and retries by its policy.
            log.error("run result given up", run_id=run.id, attempt=run.attempt)

    async def _link_issue(self, run: Run, issue_id: str) -> None:
        """A `running` result with the linked issue: the core links the run at once."""
        result = RunResult(
            run_id=run.id, status="running", linked_issue_id=issue_id, attempt=run.attempt
        )
        if not await self._produce_result(run, result, f"{run.id}:running:{run.attempt}"):
            # Not lost: the id is also in the result's output.
            log.warning("linked issue given up", run_id=run.id, attempt=run.attempt)

    async def _produce_result(self, run: Run, result: RunResult, event_id: str) -> bool:
        message = encode_event(
            topic=self._results_topic,
            key=run.routine_id,
            event_id=event_id,
            event_type=RUN_RESULT,
            time=datetime.now(UTC),
            data=result,
            subject=run.id,
            source=self._source,
            traceparent=run.traceparent,
        )
        delay = 0.1
        for _ in range(12):
            try:
                await self._producer.send_and_wait(
                    message.topic,
                    message.value,
                    key=run.routine_id.encode(),
                    headers=list(message.headers),
                )
                return True
            except KafkaError as exc:
                log.warning("run result not produced; retrying", run_id=run.id, error=repr(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        return False

    async def _commit_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self._commit_wanted.wait()
            self._commit_wanted.clear()
            await self._commit()
            await asyncio.sleep(_COMMIT_EVERY_SEC)

    async def _commit(self, only: set[TopicPartition] | None = None) -> None:
        offsets: dict[TopicPartition, int] = {}
        for tp, partition in self._partitions.items():
            if only is not None and tp not in only:
                continue
            safe = partition.safe_offset()
            if safe is not None and safe != partition.committed:
                offsets[tp] = safe
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:
            # A rebalance under way: the partitions' new owners read from the last commit.
            log.info("offset commit refused", error=repr(exc))
            return
        for tp, offset in offsets.items():
            if tp in self._partitions:
                self._partitions[tp].committed = offset

    async def assigned(self, partitions: set[TopicPartition]) -> None:
        ends = await self._consumer.end_offsets(list(partitions)) if partitions else {}
        for tp in partitions:
            self._partitions[tp] = _Partition(catch_up_to=ends.get(tp, 0))
            committed = await self._consumer.committed(tp)
            if committed is not None and committed >= ends.get(tp, 0):
                self._partitions[tp].next_offset = committed

    async def revoked(self, partitions: set[TopicPartition]) -> None:
        await self._commit(only=set(partitions))
        for tp in partitions:
            self._partitions.pop(tp, None)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: KafkaRuns) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        with contextlib.suppress(KafkaError):
            await self._owner.revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._owner.assigned(set(assigned))
