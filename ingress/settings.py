"""Ingress settings, from `TEVO_*` environment variables."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from contracts.settings import ServiceSettings


class IngressSettings(ServiceSettings):
    ingress_host: str = Field(default="0.0.0.0", description="Address to listen on.")  # noqa: S104 - a service in a container listens on every interface
    ingress_port: int = Field(default=8080, ge=1, le=65535)
    webhook_tokens: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Comma-separated secrets accepted in /webhooks/tevo/{token}; several rotate.",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Larger requests get 413."
    )
    confirm_timeout: float = Field(
        default=5.0, gt=0, description="Seconds to wait for RabbitMQ's confirm before a 503."
    )

    @field_validator("webhook_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value
