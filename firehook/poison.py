"""Records no reader can use: skipped with the reason logged and counted, never a stop.

A row written before a limit existed, or by hand, may hold JSON that cannot be
decoded or encoded again. A list, the event stream, the outbox relay or a consumer
that met it would fail at it every time and deliver nothing after it; instead each
reader leaves it out and goes on.
"""

from __future__ import annotations

from typing import Final

import structlog

from firehook.metrics import RECORDS_SKIPPED

log = structlog.get_logger("firehook.poison")

# What decoding or encoding a bad record raises: pydantic's ValidationError and
# orjson's decode error are ValueErrors, orjson's encode error is a TypeError.
POISON_ERRORS: Final = (ValueError, TypeError)


def skip_record(reader: str, record: object, error: BaseException | str) -> None:
    """Log and count one record `reader` leaves out; `record` identifies it in the log."""
    reason = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    # The first line only: an error may quote the value, which can be large.
    reason = next(iter(reason.splitlines()), "")[:300]
    log.warning("unreadable record skipped", reader=reader, record=str(record), reason=reason)
    RECORDS_SKIPPED.labels(reader=reader).inc()
