"""The broker's nodes as both services read them from `TEVO_AMQP_URL`, and the order to try them.

Pure data and control flow: nothing here opens a socket. `TEVO_AMQP_URL` is one URL (a single
node, or a load balancer in front of a cluster) or a comma-separated list of a cluster's nodes.
Every URL of a list names the same virtual host: they are doors to one broker, not several
brokers. AMQP clients talk to one node at a time; a service tries the nodes in turn until one
answers (`first_answering`), and after losing a node it tries the others before that one again
(`Brokers.rotation`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import unquote, urlsplit

T = TypeVar("T")

SCHEMES = {"amqp": 5672, "amqps": 5671}


def vhost_of(amqp_url: str) -> str:
    """The virtual host an AMQP URL names: its path, `/` when empty."""
    path = urlsplit(amqp_url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def node_of(amqp_url: str) -> str:
    """`host:port` of a URL: what logs and the console may show (never the credentials)."""
    parts = urlsplit(amqp_url)
    return f"{parts.hostname}:{parts.port or SCHEMES.get(parts.scheme, 5672)}"


def parse_amqp_urls(value: str) -> tuple[str, ...]:
    """The URLs of a comma-separated list; `ValueError` naming the first one that is wrong."""
    urls = tuple(part.strip() for part in value.split(",") if part.strip())
    if not urls:
        raise ValueError("no AMQP URL")
    for index, url in enumerate(urls, start=1):
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES or not parts.hostname:
            raise ValueError(f"URL {index} is not amqp://host... or amqps://host...")
        try:
            parts.port  # noqa: B018 - urlsplit checks the port only when it is read
        except ValueError:
            raise ValueError(f"URL {index} has a port that is not a number") from None
    if len({vhost_of(url) for url in urls}) > 1:
        raise ValueError("every URL of the list must name the same virtual host")
    if len({node_of(url) for url in urls}) < len(urls):
        raise ValueError("a node is listed twice")
    return urls


@dataclass(frozen=True)
class Brokers:
    """The nodes of one broker, in the order the operator listed them."""

    urls: tuple[str, ...]

    @classmethod
    def parse(cls, value: str) -> Brokers:
        return cls(parse_amqp_urls(value))

    @property
    def vhost(self) -> str:
        return vhost_of(self.urls[0])

    def rotation(self, lost: str | None = None) -> tuple[str, ...]:
        """Every URL once: in the listed order, or starting after `lost`, which comes last.

        After a node dies, the others are tried first: the dead one refuses (or, worse, hangs
        until a timeout) until it is back.
        """
        if lost not in self.urls:
            return self.urls
        after = self.urls.index(lost) + 1
        return self.urls[after:] + self.urls[:after]


async def first_answering(
    urls: tuple[str, ...],
    connect: Callable[[str], Awaitable[T]],
    failures: tuple[type[BaseException], ...],
    on_failure: Callable[[str, BaseException], None] | None = None,
) -> T:
    """What `connect` returns for the first URL that answers; the last failure if none does.

    Only `failures` (a client library's connection errors) move on to the next URL: anything
    else is a bug or a refusal (bad credentials) that another node would repeat.
    """
    if not urls:
        raise ValueError("no AMQP URL to try")
    failed: list[BaseException] = []
    for url in urls:
        try:
            return await connect(url)
        except failures as exc:
            failed.append(exc)
            if on_failure is not None:
                on_failure(url, exc)
    raise failed[-1]
