"""A RabbitMQ node and a Postgres cluster of the fault tests' own, to stop, kill and alarm at will.

The fault tests break their broker and their database, so they never use shared ones: a session
starts a RabbitMQ node (own node name, AMQP and distribution ports, config, no plugins, data and
logs under a temporary directory) as a child process, and a Postgres cluster (`initdb` into the
same directory, own port, trust auth, run by a non-root user), and deletes both at the end.
Postgres refuses to run as root: as root, it runs as the `postgres` user (`runuser`).
"""

from __future__ import annotations

import asyncio
import os
import pwd
import secrets
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.conftest import eventually
from tests.processes import free_port

# Debian and Ubuntu keep the server tools off PATH, one directory per major version.
_PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
# The Debian package's /usr/sbin wrappers switch to the rabbitmq user and write to its logs.
_RABBITMQ_LIB_BIN = Path("/usr/lib/rabbitmq/bin")
START_WITHIN = 120.0


def _rabbitmq_bin() -> Path:
    if (_RABBITMQ_LIB_BIN / "rabbitmq-server").exists():
        return _RABBITMQ_LIB_BIN
    found = shutil.which("rabbitmq-server")
    if found is None:
        pytest.skip("rabbitmq-server is not installed: no private broker for the fault tests")
    return Path(found).parent


def _pg_bin() -> Path:
    found = shutil.which("initdb")
    if found is not None:
        return Path(found).resolve().parent
    versions = sorted(Path("/").glob(_PG_BIN_GLOB.lstrip("/")), key=lambda p: int(p.parent.name))
    if not versions:
        pytest.skip("initdb is not installed: no private Postgres for the fault tests")
    return versions[-1]


async def sh(*argv: str, within: float = 120, env: dict[str, str] | None = None) -> str:
    """Run a command; fail the test, with its output, when it fails."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=within)
    text = out.decode(errors="replace")
    assert process.returncode == 0, f"{' '.join(argv)} exited {process.returncode}: {text}"
    return text


@dataclass
class PrivateRabbit:
    """One RabbitMQ node, a child of the test session."""

    base: Path
    node: str = field(default_factory=lambda: f"tevo-faults-{secrets.token_hex(3)}@localhost")
    port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    bin: Path = field(default_factory=_rabbitmq_bin)
    process: subprocess.Popen[bytes] | None = None
    management_port: int | None = None  # the management plugin on 127.0.0.1, when set

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def env(self) -> dict[str, str]:
        b = self.base
        return {
            **os.environ,
            "HOME": str(b),  # the Erlang cookie: ours, not the shared node's
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(b / "mnesia"),
            "RABBITMQ_LOG_BASE": str(b / "log"),
            "RABBITMQ_CONFIG_FILE": str(b / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(b / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(b / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(b / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(b / "rabbitmq.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def spawn(self) -> None:
        """Start the node in the foreground as our child (the first time, write its files)."""
        b = self.base
        if not (b / "rabbitmq.conf").exists():
            b.mkdir(parents=True, exist_ok=True)
            conf = f"listeners.tcp.1 = 127.0.0.1:{self.port}\nlog.console = false\n"
            plugins = "[]"
            if self.management_port is not None:
                conf += (
                    f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {self.management_port}\n"
                )
                plugins = "[rabbitmq_management]"
            (b / "rabbitmq.conf").write_text(conf)
            (b / "enabled_plugins").write_text(f"{plugins}.\n")
            (b / "rabbitmq-env.conf").write_text("")
            cookie = b / ".erlang.cookie"
            cookie.write_text(secrets.token_hex(16).upper())
            cookie.chmod(0o400)
        with (b / "server.log").open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own argv, no shell
                [str(self.bin / "rabbitmq-server")],
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # a Ctrl-C in the terminal goes to pytest, not the node
            )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def ctl(self, *args: str, within: float = 60) -> str:
        return await sh(
            str(self.bin / "rabbitmqctl"), "-n", self.node, *args, within=within, env=self.env()
        )

    async def up(self) -> None:
        """Wait until the node runs its application (spawning it if it is gone)."""
        if not self.running:
            self.spawn()

        async def started() -> bool | None:
            try:
                await self.ctl("await_startup", "--timeout", "10", within=20)
            except AssertionError:
                assert self.running, f"rabbitmq-server exited: {self.log_tail()}"
                return None
            return True

        await eventually(started, within=START_WITHIN, interval=0.5)

    async def start_app(self) -> None:
        """The application started again after a `stop_app` (a no-op when it runs)."""
        await self.ctl("start_app")
        await self.up()

    def kill(self) -> None:
        """SIGKILL the node: the broker vanishes without closing a connection."""
        if self.process is not None and self.running:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """Halt the node for good (the session's end)."""
        if self.process is None or not self.running:
            return
        self.process.terminate()  # the node shuts down cleanly on SIGTERM
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, lines: int = 30) -> str:
        log = self.base / "server.log"
        return (
            "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""
        )


@dataclass
class PrivatePostgres:
    """One Postgres cluster, started and stopped with `pg_ctl`, run by a non-root user."""

    base: Path
    port: int = field(default_factory=free_port)
    bin: Path = field(default_factory=_pg_bin)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_owner(self, *argv: str) -> list[str]:
        if os.geteuid() != 0:
            return list(argv)
        return ["runuser", "-u", "postgres", "--", *argv]

    def create(self) -> None:
        """initdb into `base/data`, owned by whoever runs the server."""
        self.base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.base, owner.pw_uid, owner.pw_gid)
        initdb = str(self.bin / "initdb")
        argv = [initdb, "-D", str(self.base / "data"), "-A", "trust", "-U", "postgres"]
        argv += ["-E", "UTF8", "--no-sync"]
        done = subprocess.run(self._as_owner(*argv), check=False, capture_output=True)  # noqa: S603 - our own argv
        assert done.returncode == 0, done.stderr.decode(errors="replace")

    async def start(self) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        await self._pg_ctl(
            "start", "-w", "-t", "60", "-l", str(self.base / "server.log"), "-o", options
        )

    async def stop(self, mode: str = "fast") -> None:
        """Stop the cluster; `fast` cuts every session, as a crash or a failover does."""
        await self._pg_ctl("stop", "-w", "-m", mode)

    async def running(self) -> bool:
        process = await asyncio.create_subprocess_exec(
            *self._as_owner(str(self.bin / "pg_ctl"), "status", "-D", str(self.base / "data")),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        return await process.wait() == 0

    async def _pg_ctl(self, *args: str) -> None:
        await sh(*self._as_owner(str(self.bin / "pg_ctl"), "-D", str(self.base / "data"), *args))
