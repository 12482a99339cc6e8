"""Settings, read from `FIREHOOK_*` environment variables (and a `.env` file)."""

from __future__ import annotations

import ipaddress
from functools import cached_property
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.bounded_json import DEFAULT_MAX_DEPTH, MAX_DEPTH_LIMIT

DEFAULT_DATABASE_URL = "sqlite:///./firehook.db"


class Settings(BaseSettings):
    """Every knob of every role; the README lists them with their defaults."""

    model_config = SettingsConfigDict(
        env_prefix="FIREHOOK_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: str = DEFAULT_DATABASE_URL
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    # FULL: a commit (and so a 202 in embedded mode) survives power loss; fsyncs are
    # shared by a group commit. NORMAL: faster, but the last commits can be lost on
    # power failure or an OS crash (never on a process crash).
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    secret_key: str | None = None
    secret_key_file: str = "./firehook.key"
    previous_secret_keys: str = ""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_base_url: str | None = None
    # Limits at the HTTP edge of every role (docs/production.md).
    http_max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    http_header_timeout_sec: float = Field(default=10.0, gt=0)
    http_body_timeout_sec: float = Field(default=30.0, gt=0)
    http_keepalive_timeout_sec: float = Field(default=5.0, gt=0)
    http_max_connections: int = Field(default=1000, ge=1)
    # The web console at /ui/ of every role that serves the API.
    console_enabled: bool = True
    log_format: Literal["console", "json"] = "console"
    log_level: str = "INFO"

    webhook_max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    webhook_rate_per_trigger: float = Field(default=50.0, gt=0)
    webhook_burst_per_trigger: int = Field(default=100, ge=1)
    webhook_rate_per_ip: float = Field(default=100.0, gt=0)
    webhook_burst_per_ip: int = Field(default=200, ge=1)
    trusted_proxies: str = ""
    # Nesting allowed in any JSON value a client sends (payload, output, ...).
    json_max_depth: int = Field(default=DEFAULT_MAX_DEPTH, ge=1, le=MAX_DEPTH_LIMIT)
    trigger_cache_ttl_sec: float = Field(default=2.0, ge=0)
    # The delivery inspector: deliveries kept a trigger (0: none), body bytes kept each.
    webhook_deliveries_kept: int = Field(default=100, ge=0, le=10_000)
    webhook_delivery_body_bytes: int = Field(default=8192, ge=0, le=1024 * 1024)

    kafka_bootstrap_servers: str | None = None
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_ssl_cafile: str | None = None
    # A client certificate and its key (PEM), for brokers that authenticate clients by TLS.
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None
    kafka_enable_idempotence: bool = True
    kafka_create_topics: bool = True
    kafka_partitions: int = Field(default=12, ge=1)
    kafka_replication_factor: int = Field(default=1, ge=1)
    kafka_consumer_group: str = "firehook-consumer"
    # A dead consumer's partitions move to the others after the session timeout.
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1000)
    kafka_heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    # How long a publish waits for the broker's acknowledgement before answering 503.
    kafka_publish_timeout_sec: float = Field(default=5.0, gt=0)
    topic_fires: str = "firehook.fires"
    topic_runs: str = "firehook.runs"
    topic_run_results: str = "firehook.run-results"
    topic_fires_dlq: str = "firehook.fires.dlq"

    scheduler_resync_sec: float = Field(default=5.0, gt=0)
    # What a served process has after SIGTERM: requests in hand get up to half of it,
    # then the role's services drain in what is left. Keep it below the orchestrator's
    # grace period minus any preStop delay (the Helm chart derives it so).
    shutdown_timeout_sec: int = Field(default=25, ge=2)
    consumer_batch_size: int = Field(default=500, ge=1)
    dispatch_concurrency: int = Field(default=64, ge=1)
    # Schedules: the occurrence ledger's retention, and the bounds of a backfill.
    occurrence_retention_days: float = Field(default=30.0, gt=0)
    backfill_max_range_days: float = Field(default=31.0, gt=0)
    backfill_max_ticks: int = Field(default=10_000, ge=1)
    backfill_rate_per_sec: float = Field(default=50.0, gt=0)
    bulk_max_routines: int = Field(default=1_000, ge=1)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, value: str) -> str:
        for part in _split(value):
            ipaddress.ip_network(part, strict=False)
        return value

    @cached_property
    def trusted_proxy_networks(
        self,
    ) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(p, strict=False) for p in _split(self.trusted_proxies))

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def uses_kafka(self) -> bool:
        return bool(self.kafka_bootstrap_servers)


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]
