"""Settings both services read from the environment (prefix `TEVO_`), validated at start."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.topology import Topology


class ServiceSettings(BaseSettings):
    """What every process needs: where the broker is, its namespace, and how to log."""

    model_config = SettingsConfigDict(env_prefix="TEVO_", extra="ignore")

    amqp_url: str = Field(
        default="amqp://guest:guest@127.0.0.1:5672/",
        description="RabbitMQ URL (aio-pika form).",
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

    @property
    def topology(self) -> Topology:
        return Topology(self.namespace)
