"""A private three-node RabbitMQ cluster on loopback, for tests that kill its nodes.

Everything it makes is its own and lives in one temporary directory: node names
`tevo-c<N>-<run>@localhost`, AMQP and distribution ports picked free, an Erlang cookie, data and
logs, and an epmd on a port of its own (so it never touches the shared node's epmd on 4369). The
shared node's cookie is never read: HOME points at the directory, where the servers and the CLI
both find the cluster's cookie. `close` kills every process it started and removes the directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.conftest import eventually

# Where the server's own scripts are: next to `rabbitmq-env`. Debian and Ubuntu put wrappers in
# /usr/sbin that run them as the rabbitmq user with its HOME (its cookie), so take the package's
# directory there; the generic tarball and Homebrew have them on PATH. TEST_RABBITMQ_SCRIPTS wins.
PACKAGE_SCRIPTS = Path("/usr/lib/rabbitmq/bin")
START_WITHIN = 180.0  # seconds for a node to boot on a loaded 2-core machine


def scripts_dir() -> Path | None:
    """The directory of RabbitMQ's own scripts, or None when RabbitMQ is not installed."""
    candidates = [os.environ.get("TEST_RABBITMQ_SCRIPTS"), str(PACKAGE_SCRIPTS)]
    found = shutil.which("rabbitmq-server")
    if found:
        candidates.append(str(Path(found).resolve().parent))
    for candidate in filter(None, candidates):
        if (Path(candidate) / "rabbitmq-env").exists():
            return Path(candidate)
    return None


def free_ports(count: int, below: int = 30000) -> list[int]:
    """Free loopback ports under `below`: the CLI's own distribution ports sit 10000 above a
    node's, which must stay a valid port."""
    ports: list[int] = []
    for port in range(20000 + secrets.randbelow(5000), below):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == count:
            return ports
    raise RuntimeError("no free ports")


@dataclass
class Node:
    name: str  # tevo-c1-<run>@localhost
    amqp_port: int
    dist_port: int
    home: Path
    process: asyncio.subprocess.Process | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def pid_file(self) -> Path:
        return self.home / "pid"

    def env(self, base: dict[str, str]) -> dict[str, str]:
        return {
            **base,
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.home / "data"),
            "RABBITMQ_LOG_BASE": str(self.home / "log"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
        }


@dataclass
class Cluster:
    root: Path
    nodes: list[Node]
    scripts: Path
    epmd_port: int
    epmd: asyncio.subprocess.Process | None = None

    @classmethod
    def plan(cls, root: Path, scripts: Path, size: int = 3) -> Cluster:
        run = uuid.uuid4().hex[:6]
        epmd, *ports = free_ports(1 + 2 * size)
        nodes = [
            Node(
                f"tevo-c{i + 1}-{run}@localhost", ports[2 * i], ports[2 * i + 1], root / f"c{i + 1}"
            )
            for i in range(size)
        ]
        return cls(root, nodes, scripts, epmd)

    @property
    def urls(self) -> str:
        """`TEVO_AMQP_URL` for this cluster: every node, comma-separated."""
        return ",".join(node.url for node in self.nodes)

    def base_env(self) -> dict[str, str]:
        """No RABBITMQ_* or ERL_* of this machine's: its config, env file and cookie stay out."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update(
            {
                "HOME": str(self.root),  # where Erlang finds .erlang.cookie
                "ERL_EPMD_PORT": str(self.epmd_port),
                "ERL_EPMD_ADDRESS": "127.0.0.1",
                "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
                "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
                "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.root / "advanced.config"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
                # One scheduler and no busy-waiting: three nodes share two cores with others.
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": (
                    "-kernel inet_dist_use_interface {127,0,0,1} "
                    "+S 1:1 +sbwt none +sbwtdcpu none +sbwtdio none"
                ),
            }
        )
        return env

    def _write_files(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        cookie = self.root / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(20))
        cookie.chmod(0o400)
        (self.root / "rabbitmq-env.conf").write_text("")
        (self.root / "rabbitmq.conf").write_text("log.console = false\nlog.file.level = info\n")
        (self.root / "enabled_plugins").write_text("[].\n")
        for node in self.nodes:
            node.home.mkdir(parents=True, exist_ok=True)

    async def ctl(self, node: Node, *args: str, tool: str = "rabbitmqctl") -> str:
        """Run one of RabbitMQ's CLI tools against `node`, with the cluster's cookie."""
        argv = [str(self.scripts / tool), "-q", "-n", node.name, *args]
        process = await asyncio.create_subprocess_exec(
            *argv,
            env=self.base_env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(process.communicate(), timeout=START_WITHIN)
        text = out.decode(errors="replace")
        assert process.returncode == 0, f"{' '.join(argv)} exited {process.returncode}: {text}"
        return text

    async def start(self) -> None:
        """Start the nodes, and join the second and third to the first."""
        self._write_files()
        self.epmd = await asyncio.create_subprocess_exec(
            "epmd", "-port", str(self.epmd_port), "-address", "127.0.0.1",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await asyncio.gather(*(self.start_node(node) for node in self.nodes))
        first, *others = self.nodes
        for node in others:
            await self.ctl(node, "stop_app")
            await self.ctl(node, "join_cluster", first.name)
            await self.ctl(node, "start_app")
        await self.ctl(first, "await_online_nodes", str(len(self.nodes)))

    async def start_node(self, node: Node) -> None:
        node.pid_file.unlink(missing_ok=True)
        log = (node.home / "server.out").open("ab")
        with log:
            node.process = await asyncio.create_subprocess_exec(
                str(self.scripts / "rabbitmq-server"),
                env=node.env(self.base_env()),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        await self.ctl(node, "wait", str(node.pid_file), "--timeout", str(int(START_WITHIN)))

    def kill(self, node: Node) -> None:
        """SIGKILL the node's Erlang VM: no goodbye to its peers or its clients.

        Only while the script that started it still runs: it waits for the VM, so the pid in
        the file is still the VM's and not some later process's.
        """
        assert node.process is not None, node.name
        assert node.process.returncode is None, node.name
        os.kill(int(node.pid_file.read_text().strip()), signal.SIGKILL)

    async def killed(self, node: Node) -> None:
        self.kill(node)
        assert node.process is not None
        await asyncio.wait_for(node.process.wait(), timeout=30)
        node.pid_file.unlink()

    def node_of(self, url_or_port: str | int) -> Node:
        port = int(str(url_or_port).rsplit(":", 1)[-1].strip("/"))
        return next(node for node in self.nodes if node.amqp_port == port)

    async def leader(self, queue: str) -> Node:
        """The node leading quorum queue `queue`, as the cluster says."""
        leader = (await self.leaders(queue)).get(queue)
        return next(node for node in self.nodes if node.name == leader)

    async def leaders(self, prefix: str) -> dict[str, str]:
        """The leading node of every quorum queue whose name starts with `prefix`."""
        return {q: v for q, v in (await self._queues("leader")).items() if q.startswith(prefix)}

    async def members(self, prefix: str) -> dict[str, list[str]]:
        """The member nodes of every quorum queue whose name starts with `prefix`."""
        listed = await self._queues("members")  # "[tevo-c1-..@localhost, ...]" per queue
        return {
            queue: [m.strip(" []'\"") for m in members.split(",") if m.strip(" []")]
            for queue, members in listed.items()
            if queue.startswith(prefix)
        }

    async def _queues(self, column: str) -> dict[str, str]:
        """`column` of every queue, by name, as a running node lists them."""
        live = next(n for n in self.nodes if n.process is not None and n.process.returncode is None)
        out = await self.ctl(live, "list_queues", "name", column, "--no-table-headers")
        pairs = (line.split("\t", 1) for line in out.splitlines() if "\t" in line)
        return {name: value.strip() for name, value in pairs}

    async def await_leaders(self, queues: Sequence[str]) -> None:
        """Every queue has a leader again (after a kill, once the survivors elected one)."""

        async def elected() -> bool | None:
            leaders = await self.leaders("")
            return all(leaders.get(q, "") not in ("", "undefined") for q in queues) or None

        await eventually(elected, within=60, interval=1)

    async def close(self) -> None:
        """Kill every process this cluster started and remove its directory."""
        for node in self.nodes:
            if node.process is None or node.process.returncode is not None:
                continue
            if node.pid_file.exists():
                with contextlib.suppress(ValueError, ProcessLookupError):
                    self.kill(node)
            else:
                node.process.terminate()  # still booting: the script's trap stops its VM
            try:
                await asyncio.wait_for(node.process.wait(), timeout=30)
            except TimeoutError:
                node.process.kill()
                await node.process.wait()
        if self.epmd is not None and self.epmd.returncode is None:
            self.epmd.kill()
            await self.epmd.wait()
        shutil.rmtree(self.root, ignore_errors=True)
