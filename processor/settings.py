"""Processor settings, from `TEVO_*` environment variables."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from contracts.settings import ServiceSettings, postgres_url

# The longest wait between two tries of one call to TEvo's API (`processor.tevo.retry` gives up
# rather than wait longer, whatever `Retry-After` asks): part of the worst case of one call,
# which must fit in a handler timeout.
API_MAX_RETRY_WAIT = 5.0


class ProcessorSettings(ServiceSettings):
    # A refused setting is printed at start; its input would include the API token and secret.
    model_config = SettingsConfigDict(hide_input_in_errors=True)

    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        description="Postgres URL of the POS (asyncpg form).",
    )
    riskified: bool = Field(
        default=True, description="Client sales wait for fraud_check_status=approved."
    )
    fraud_wait_limit: timedelta = Field(
        default=timedelta(hours=4),
        gt=timedelta(0),
        description="How long a sale may await a fraud decision before it is flagged: seconds "
        "or an ISO 8601 duration (PT4H).",
    )
    review_watch_interval: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Seconds between two looks at the sales awaiting review (gauges, waits).",
    )
    prefetch: int = Field(default=128, ge=1, le=1000, description="Unacked messages per consumer.")
    batch_size: int = Field(
        default=32, ge=1, le=1000, description="Most messages applied in one transaction."
    )
    batch_linger: float = Field(
        default=0.005,
        ge=0,
        le=1,
        description="Seconds a consumer's first waiting message waits for others to batch with.",
    )
    batch_concurrency: int = Field(
        default=4, ge=1, le=100, description="Batches of one consumer applied at once."
    )
    db_pool_size: int = Field(
        default=10, ge=1, le=200, description="Postgres connections each processor holds."
    )
    retry_delays: Annotated[tuple[int, ...], NoDecode] = Field(
        default=(1, 10, 60, 600),
        description="Seconds before each retry of a retryable failure, comma-separated.",
    )
    retry_max_attempts: int = Field(
        default=5, ge=1, description="Attempts in all before a retryable failure is dead-lettered."
    )
    handler_timeout: float = Field(
        default=30.0, gt=0, description="Seconds one message may take before it is retried."
    )
    shutdown_timeout: float = Field(
        default=30.0, ge=0, description="Seconds in-flight messages get to finish on SIGTERM."
    )
    held_delivery_limit: float = Field(
        default=120.0,
        gt=0,
        description=(
            "Seconds a delivery may stay unacked in this processor before /readyz answers 503 "
            "(tevo_processor_oldest_unsettled_seconds shows the age); more than handler_timeout."
        ),
    )
    api_url: str = Field(
        default="https://api.ticketevolution.com/v9",
        pattern=r"^https?://[^/?#]+/\S*[^/]$",
        description="TEvo's API; sandbox: https://api.sandbox.ticketevolution.com/v9.",
    )
    api_token: SecretStr | None = Field(
        default=None,
        description="TEvo API token (X-Token); with the secret, turns verification on and allows "
        "`reconcile`.",
    )
    api_secret: SecretStr | None = Field(
        default=None, description="TEvo API secret: signs requests, never sent."
    )
    api_timeout: float = Field(
        default=5.0, gt=0, le=60, description="Seconds one call to TEvo's API may take."
    )
    api_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description="Tries per call to TEvo's API on 5xx, 429 or timeout; attempts x timeout plus "
        "waits must stay under TEVO_HANDLER_TIMEOUT.",
    )
    api_concurrency: int = Field(
        default=16,
        ge=1,
        le=256,
        description="Calls to TEvo's API a batch makes at once to verify its orders (each "
        "processor); more: a batch waits less for TEvo, TEvo sees more at once.",
    )
    rabbitmq_api_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#]+(/\S*)?$",
        description="RabbitMQ's management API, where `migrate` sets the queue policies "
        "(http://host:15672/api); credentials from TEVO_AMQP_URL unless in the URL. Default: "
        "port 15672 of the first TEVO_AMQP_URL node.",
    )
    # The data lifecycle (`retention run`, docs/operations.md "Data lifecycle"): seconds or an
    # ISO 8601 duration each; every one has a floor that keeps the service correct.
    retention_inbox: timedelta = Field(
        default=timedelta(days=30),
        ge=timedelta(days=1),
        description="How long a message id is remembered against duplicates: past TEvo's "
        "retries (1 h) and any replay of a dead letter you would still make.",
    )
    retention_history: timedelta = Field(
        default=timedelta(days=730),
        ge=timedelta(days=1),
        description="How long pos.order_history rows are kept.",
    )
    retention_versions: timedelta = Field(
        default=timedelta(days=730),
        ge=timedelta(days=1),
        description="How long the stored versions of a sale nothing has touched are kept.",
    )
    retention_pii: timedelta = Field(
        default=timedelta(days=180),
        ge=timedelta(days=1),
        description="How long buyers' contact details stay in stored order bodies (amounts, "
        "items and states stay).",
    )
    retention_dead_letters: timedelta = Field(
        default=timedelta(days=30),
        ge=timedelta(hours=1),
        description="How long dead letters and unrouted messages are held before they are dropped.",
    )
    retention_batch: int = Field(
        default=1000, ge=1, le=100_000, description="Rows per retention statement."
    )
    processor_http_host: str = Field(default="0.0.0.0", description="Address of the HTTP port.")  # noqa: S104 - a service in a container listens on every interface
    processor_http_port: int = Field(
        default=9100,
        ge=0,
        le=65535,
        description="Port of /metrics, /healthz and /readyz; 0 picks a free one.",
    )

    console_host: str = Field(default="127.0.0.1", description="Address of the web console.")
    console_port: int = Field(
        default=8081, ge=0, le=65535, description="Port of the web console; 0 picks a free one."
    )
    console_secret_key: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="Signs the console's session cookies (32 characters or more); the console "
        "refuses to start without it.",
    )
    console_secure_cookies: bool = Field(
        default=True,
        description="Session cookies only over HTTPS; turn off only for a console reached over "
        "plain HTTP on 127.0.0.1.",
    )
    console_session_lifetime: timedelta = Field(
        default=timedelta(hours=8),
        gt=timedelta(0),
        le=timedelta(days=7),
        description="How long a console sign-in lasts: seconds or an ISO 8601 duration (PT8H).",
    )
    console_base_url: str = Field(
        default="http://127.0.0.1:8081",
        pattern=r"^https?://[^/?#]+(/\S*)?$",
        description="Where operators reach the console: the links in notifications start with it.",
    )
    notify_url: SecretStr | None = Field(
        default=None,
        description="A Slack-compatible incoming webhook told when a sale starts to need a "
        "person or a message is dead-lettered (order, reason, link; never buyer details).",
    )

    @field_validator("retry_delays", mode="before")
    @classmethod
    def _split_delays(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(int(part) for part in value.split(",") if part.strip())
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_parses(cls, value: str) -> str:
        postgres_url(value)  # refused at start, not as asyncpg's traceback at the first connect
        return value

    @field_validator(
        "fraud_wait_limit",
        "retention_inbox",
        "retention_history",
        "retention_versions",
        "retention_pii",
        "retention_dead_letters",
        mode="before",
    )
    @classmethod
    def _seconds(cls, value: object) -> object:
        # From the environment "7200" is a string, which pydantic reads only as ISO 8601.
        if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
            return float(value)
        return value

    @field_validator(
        "api_token",
        "api_secret",
        "console_secret_key",
        "notify_url",
        "rabbitmq_api_url",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # Compose passes `${TEVO_API_TOKEN:-}`: an empty variable means "not configured".
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _delays_positive(self) -> ProcessorSettings:
        if not self.retry_delays or min(self.retry_delays) < 1:
            raise ValueError("`retry_delays` must list whole seconds, each at least 1")
        return self

    @model_validator(mode="after")
    def _api_credentials_paired(self) -> ProcessorSettings:
        if (self.api_token is None) != (self.api_secret is None):
            raise ValueError("set both `api_token` and `api_secret`, or neither")
        return self

    @model_validator(mode="after")
    def _api_calls_fit_in_a_handler(self) -> ProcessorSettings:
        # A verification cut off by the handler timeout mid-retry would be reported as a
        # database timeout: refuse settings that let the API's worst case reach it.
        waits = (self.api_attempts - 1) * API_MAX_RETRY_WAIT
        worst = self.api_attempts * self.api_timeout + waits
        if worst >= self.handler_timeout:
            raise ValueError(
                f"`api_attempts` x `api_timeout` plus retry waits ({worst:g} s) must stay under "
                f"`handler_timeout` ({self.handler_timeout:g} s)"
            )
        return self

    @model_validator(mode="after")
    def _held_limit_past_a_handler(self) -> ProcessorSettings:
        if self.held_delivery_limit <= self.handler_timeout:
            raise ValueError(
                f"held_delivery_limit ({self.held_delivery_limit:g} s) must be more than "
                f"handler_timeout ({self.handler_timeout:g} s): a message applied in time is held"
            )
        return self

    def retry_delay(self, attempt: int) -> int:
        """The delay after failed attempt `attempt` (1-based); the last tier repeats."""
        return self.retry_delays[min(attempt, len(self.retry_delays)) - 1]
