"""Settings both services read from the environment (prefix `TEVO_`), validated at start."""

from __future__ import annotations

from typing import Literal
from urllib.parse import SplitResult, urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.brokers import Brokers, parse_amqp_urls
from contracts.topology import Topology


class ServiceSettings(BaseSettings):
    """What every process needs: where the broker is, its namespace, and how to log."""

    # A refused setting is printed at start: its input may be a URL's password or a token.
    model_config = SettingsConfigDict(env_prefix="TEVO_", extra="ignore", hide_input_in_errors=True)

    amqp_url: str = Field(
        default="amqp://guest:guest@127.0.0.1:5672/",
        description=(
            "RabbitMQ URL (aio-pika form), or a comma-separated list of a cluster's nodes "
            "(same vhost and credentials), tried in turn."
        ),
    )
    quorum_initial_group_size: int | None = Field(
        default=None,
        ge=1,
        le=9,
        description=(
            "Replicas of each new quorum queue (x-quorum-initial-group-size); unset: RabbitMQ's "
            "default, the cluster's size up to 3. Fixed at creation: see docs/operations.md."
        ),
    )
    namespace: str = Field(
        default="tevo",
        pattern=r"^[a-z][a-z0-9_-]{0,39}$",
        description="Prefix of every exchange and queue name.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Least severe log events written."
    )
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: console on a terminal, JSON otherwise."
    )

    log_message_key: Literal["event", "message"] = Field(
        default="event",
        description="JSON key of a log line's event name (`message` for collectors that want it).",
    )

    @field_validator("amqp_url")
    @classmethod
    def _urls_parse(cls, value: str) -> str:
        parse_amqp_urls(value)  # refused at start, not at the first reconnect
        return value

    @property
    def brokers(self) -> Brokers:
        return Brokers.parse(self.amqp_url)

    @property
    def topology(self) -> Topology:
        return Topology(self.namespace, quorum_group_size=self.quorum_initial_group_size)


POSTGRES_SCHEMES = ("postgresql", "postgres")


def postgres_url(value: str) -> SplitResult:
    """A Postgres URL's parts; `ValueError` saying what is wrong (never quoting the URL: it may
    hold a password)."""
    parts = urlsplit(value.strip())
    if parts.scheme not in POSTGRES_SCHEMES:
        raise ValueError("not a postgresql://user@host:port/database URL")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when it is read
    except ValueError:
        raise ValueError("the port is not a number") from None
    return parts


def postgres_address(value: str) -> str:
    """`host:port/database` of a Postgres URL, for a message (never the credentials)."""
    parts = urlsplit(value.strip())
    host = parts.hostname or "localhost"
    return f"{host}:{parts.port or 5432}{parts.path or '/'}"
