"""Ingress settings, from `TEVO_*` environment variables."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from contracts.settings import ServiceSettings
from ingress.sources import IPNetwork, parse_networks


class IngressSettings(ServiceSettings):
    ingress_host: str = Field(default="0.0.0.0", description="Address to listen on.")  # noqa: S104 - a service in a container listens on every interface
    ingress_port: int = Field(default=8080, ge=1, le=65535, description="Port to listen on.")
    ingress_workers: int = Field(
        default=1, ge=1, le=64, description="Processes sharing the port (SO_REUSEPORT)."
    )
    ingress_reuse_port: bool = Field(
        default=False,
        description="Listen with SO_REUSEPORT: set for workers; also lets you run several.",
    )
    webhook_tokens: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Required: comma-separated secrets accepted in /webhooks/tevo/{token}, several "
        "at once for rotation; each must be strong (docs/webhooks.md, Security).",
    )
    allow_weak_tokens: bool = Field(
        default=False,
        description="Start even with a weak token (local development only; logged loudly).",
    )
    allowed_networks: Annotated[tuple[IPNetwork, ...], NoDecode] = Field(
        default=(),
        description="Comma-separated CIDRs webhooks may come from (403 otherwise); empty: any.",
    )
    trusted_proxies: Annotated[tuple[IPNetwork, ...], NoDecode] = Field(
        default=(),
        description="Comma-separated CIDRs of proxies whose X-Forwarded-For is believed.",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Larger requests get 413."
    )
    max_form_fields: int = Field(
        default=32, ge=5, le=1000, description="Forms with more fields get 400."
    )
    body_timeout: float = Field(
        default=10.0, gt=0, description="Seconds to receive the whole body; slower gets 408."
    )
    idle_timeout: float = Field(
        default=15.0,
        gt=0,
        description="Seconds a connection may stay open without a complete request head.",
    )
    max_in_flight: int = Field(
        default=256,
        ge=1,
        description=(
            "Webhooks published at once by one process, counted once their body is read (a"
            " client slow to send one holds no slot); more get 503 with Retry-After."
        ),
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

    @field_validator("allowed_networks", "trusted_proxies", mode="before")
    @classmethod
    def _parse_networks(cls, value: object) -> tuple[IPNetwork, ...]:
        return parse_networks(value)
