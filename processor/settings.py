"""Processor settings, from `TEVO_*` environment variables."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from contracts.settings import ServiceSettings


class ProcessorSettings(ServiceSettings):
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        description="Postgres URL of the POS (asyncpg form).",
    )
    riskified: bool = Field(
        default=True, description="Client sales wait for fraud_check_status=approved."
    )
    prefetch: int = Field(default=32, ge=1, le=1000, description="Unacked messages per consumer.")
    db_pool_size: int = Field(default=10, ge=1, le=200)
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
    processor_http_host: str = Field(default="0.0.0.0", description="Address of the HTTP port.")  # noqa: S104 - a service in a container listens on every interface
    processor_http_port: int = Field(
        default=9100,
        ge=0,
        le=65535,
        description="Port of /metrics, /healthz and /readyz; 0 picks a free one.",
    )

    @field_validator("retry_delays", mode="before")
    @classmethod
    def _split_delays(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(int(part) for part in value.split(",") if part.strip())
        return value

    @model_validator(mode="after")
    def _delays_positive(self) -> ProcessorSettings:
        if not self.retry_delays or min(self.retry_delays) < 1:
            raise ValueError("retry_delays must list whole seconds, each at least 1")
        return self

    def retry_delay(self, attempt: int) -> int:
        """The delay after failed attempt `attempt` (1-based); the last tier repeats."""
        return self.retry_delays[min(attempt, len(self.retry_delays)) - 1]
