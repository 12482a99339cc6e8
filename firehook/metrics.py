"""Prometheus metrics of every role, served at `/metrics`."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

FIRES_RECEIVED = Counter(
    "firehook_fires_received_total", "Fire requests received, by source.", ["source"]
)
FIRES_ACCEPTED = Counter(
    "firehook_fires_accepted_total", "Fires made durable (answered 202), by source.", ["source"]
)
FIRES_REJECTED = Counter(
    "firehook_fires_rejected_total", "Fire requests refused, by reason.", ["reason"]
)
PUBLISH_SECONDS = Histogram(
    "firehook_publish_seconds", "Time to make a fire durable on the bus.", buckets=_LATENCY_BUCKETS
)
FIRES_CONSUMED = Counter(
    "firehook_fires_consumed_total", "Fires consumed, by outcome.", ["outcome"]
)
CONSUMER_BATCH_SIZE = Histogram(
    "firehook_consumer_batch_size",
    "Messages per consumed batch.",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
)
CONSUMER_LAG = Gauge(
    "firehook_consumer_lag",
    "Messages behind the end of the fires topic, by partition.",
    ["partition"],
)
RUNS_BY_STATUS = Counter(
    "firehook_runs_total", "Run status changes, by status reached.", ["status"]
)
SCHEDULER_LATENESS = Histogram(
    "firehook_scheduler_lateness_seconds",
    "How late each scheduled fire was published.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0),
)
SCHEDULE_OCCURRENCES = Counter(
    "firehook_schedule_occurrences_total",
    "Ticks of schedule triggers recorded in the occurrence ledger, by outcome.",
    ["outcome"],
)
DISPATCH_SECONDS = Histogram(
    "firehook_dispatch_seconds", "Duration of HTTP dispatch of a run.", buckets=_LATENCY_BUCKETS
)
DISPATCH_FAILURES = Counter(
    "firehook_dispatch_failures_total", "HTTP dispatches that failed, by reason.", ["reason"]
)

RECORDS_SKIPPED = Counter(
    "firehook_records_skipped_total",
    "Stored rows or bus messages a reader could not decode or encode and skipped, by reader.",
    ["reader"],
)


def render_metrics() -> tuple[bytes, str]:
    """The exposition text and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
