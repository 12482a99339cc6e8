"""Run results: executors report how a run ended on the run-results topic.

A batch is applied in one transaction, like fires. A result for a run that has
already ended (a redelivery, or a result racing a timeout) changes nothing, so
redelivery is harmless here too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import structlog

from consumers import lifecycle
from consumers.records import StatusChanges
from firehook.bus import Message
from firehook.cloudevents import UndecodableEvent, decode_event
from firehook.context import Context
from firehook.ids import is_uuid
from firehook.poison import skip_record
from schemas.common import RunStatus
from schemas.errors import Conflict, NotFound
from schemas.events import RUN_RESULT, RunResult

log = structlog.get_logger("firehook.consumers")


class RunResultProcessor:
    """Applies batches of `dev.firehook.run.result` messages with `lifecycle.complete_run`."""

    def __init__(
        self,
        ctx: Context,
        *,
        publish_run_events: bool,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self._ctx = ctx
        self._publish_run_events = publish_run_events
        self._on_commit = on_commit

    async def handle_batch(self, messages: Sequence[Message]) -> None:
        results: list[RunResult] = []
        for message in messages:
            try:
                _, result = decode_event(
                    message,
                    RunResult,
                    expected_type=RUN_RESULT,
                    max_depth=self._ctx.settings.json_max_depth,
                )
            except UndecodableEvent as exc:
                # Not retried: it would fail the same way. The run still ends, by its timeout.
                skip_record("run_results", message.key, exc)
                continue
            if not is_uuid(result.run_id):
                log.warning("run result for a malformed run id skipped", run_id=result.run_id[:64])
                continue
            results.append(result)
        if not results:
            return
        changes = StatusChanges(self._ctx.settings, publish_to_bus=self._publish_run_events)
        async with self._ctx.db.write() as conn:
            now = self._ctx.clock()
            for result in results:
                try:
                    # Both refusals happen before anything is written, so the batch goes on.
                    await lifecycle.complete_run(
                        conn,
                        result.run_id,
                        RunStatus(result.status),
                        changes,
                        now,
                        output=result.output,
                        error=result.error,
                        attempt=result.attempt,
                    )
                except (NotFound, Conflict) as exc:
                    log.info("run result ignored", run_id=result.run_id, reason=exc.message)
            await changes.save(conn)
        self._on_commit()
