"""Kill -9 RabbitMQ nodes under load: every webhook answered 202 is invoiced exactly once.

A stream of Office sales goes through the real ingress and processor, both given the three
nodes in `TEVO_AMQP_URL`. The test kills (a) the node the ingress publishes through, then (b)
the node leading the consumer's quorum queue, restarting each, and prints accepted, applied,
doubled and lost counts and, per kill, the longest run of 503s (answers in a row, and seconds).

    TEST_CLUSTER=1 TEST_AMQP_URL=... TEST_DATABASE_URL=... pytest tests/cluster -s
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import aio_pika
import aiohttp
import asyncpg
import pytest
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from contracts.brokers import first_answering
from tests.cluster.conftest import CONSUMER, ClusterStack, opted_in
from tests.cluster.rabbit import Cluster, Node
from tests.faults.load import Load, accepted_at_least, applied_rows
from tests.integration.conftest import eventually
from tests.processes import outcomes

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(not opted_in(), reason="set TEST_CLUSTER=1: starts a 3-node RabbitMQ"),
]

STEP = 40  # accepted orders between the moves of the test: load before, during and after


@dataclass
class TimedLoad(Load):
    """`Load`, remembering when each answer came, to measure runs of 503s."""

    answers: list[tuple[float, int | str]] = field(default_factory=list)

    async def _post(self, session: aiohttp.ClientSession, order_id: int, url: str) -> int | str:
        status = await super()._post(session, order_id, url)
        if url == self.webhook_url:  # not the 401s of the wrong token
            self.answers.append((time.monotonic(), status))
        return status

    def longest_503_run(self, since: float, until: float) -> dict[str, float]:
        """The longest run of 503s in a row between two instants: answers, and seconds."""
        best = (0, 0.0)
        run: list[float] = []
        for at, status in sorted(a for a in self.answers if since <= a[0] < until):
            if status == 503:
                run.append(at)
                best = max(best, (len(run), run[-1] - run[0]))
            else:
                run = []
        return {"answers": best[0], "seconds": round(best[1], 2)}


async def test_nodes_killed_under_load(
    stack: ClusterStack, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    cluster, queue = stack.cluster, f"{stack.namespace}.{CONSUMER}"
    # RabbitMQ's default group, 3 of 3 nodes, for every queue: consumer, delay, dead-letter.
    members = await cluster.members(f"{stack.namespace}.")
    assert len(members) > 3, members
    assert {len(nodes) for nodes in members.values()} == {3}, members
    load = TimedLoad(stack.webhook_url)
    stop = asyncio.Event()
    task = asyncio.create_task(load.run(stop))
    kills: dict[str, dict[str, object]] = {}
    try:
        await eventually(accepted_at_least(load, STEP), within=60)
        ingress_node = cluster.node_of(stack.node_of(stack.ingress))
        kills["a_ingress_node"] = await _kill_and_restart(stack, load, ingress_node, queue)
        leader = await cluster.leader(queue)
        kills["b_queue_leader"] = await _kill_and_restart(stack, load, leader, queue)
        # The leaders piled up on the nodes that stayed: spread them, as the runbook says.
        await cluster.ctl(cluster.nodes[0], "rebalance", "quorum", tool="rabbitmq-queues")
        await eventually(accepted_at_least(load, len(load.accepted) + STEP), within=90)
    finally:
        stop.set()
        await task
    leaders = await cluster.leaders(f"{stack.namespace}.")
    assert len(set(leaders.values())) == len(cluster.nodes), leaders  # every node leads some
    counts = await _exactly_once(stack, load)
    counts["kills"] = kills
    counts["wall_seconds"] = round(time.monotonic() - started, 1)
    with capsys.disabled():
        print(f"\n[cluster] {json.dumps(counts)}")
    assert stack.ingress.running, stack.ingress.tail()
    assert stack.processor.running, stack.processor.tail()


async def _kill_and_restart(
    stack: ClusterStack, load: TimedLoad, node: Node, queue: str
) -> dict[str, object]:
    """Kill -9 `node` under load, let the load go on without it, then start it again."""
    cluster = stack.cluster
    where = {"ingress": stack.node_of(stack.ingress), "processor": stack.node_of(stack.processor)}
    killed_at = time.monotonic()
    await cluster.killed(node)
    # The service goes on with two nodes of three: a quorum of every queue.
    await eventually(accepted_at_least(load, len(load.accepted) + STEP), within=90)
    await cluster.start_node(node)
    await cluster.ctl(node, "await_online_nodes", str(len(cluster.nodes)))
    await cluster.await_leaders([queue])
    await eventually(accepted_at_least(load, len(load.accepted) + STEP // 2), within=60)
    return {
        "node": node.name,
        "before": where,
        "after": {
            "ingress": stack.node_of(stack.ingress),
            "processor": stack.node_of(stack.processor),
        },
        "longest_503_run": load.longest_503_run(killed_at, time.monotonic()),
    }


async def _depth(cluster: Cluster, queue: str) -> int:
    connection = await first_answering(
        tuple(node.url for node in cluster.nodes), aio_pika.connect, CONNECTION_EXCEPTIONS
    )
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)


async def _exactly_once(stack: ClusterStack, load: TimedLoad) -> dict[str, object]:
    """Wait until the processor caught up; every 202 has one sale and one history row."""
    everything = load.accepted | load.refused | load.abandoned
    queue = f"{stack.namespace}.{CONSUMER}"
    conn = await asyncpg.connect(stack.database_url)
    try:

        async def caught_up() -> bool | None:
            rows = await applied_rows(conn, everything)
            done = set(rows["sales"]) >= load.accepted
            return (done and await _depth(stack.cluster, queue) == 0) or None

        await eventually(caught_up, within=120, interval=1)
        rows = await applied_rows(conn, everything)
    finally:
        await conn.close()
    history = rows["order_history"]
    counts: dict[str, object] = {
        "accepted": len(load.accepted),
        "applied": len(set(rows["sales"]) & load.accepted),
        "doubled": sum(1 for n in (*rows["sales"].values(), *history.values()) if n > 1),
        "lost": len(load.accepted - set(rows["sales"])),
        "applied_not_accepted": len(set(rows["sales"]) - load.accepted),
        "never_accepted": len(load.abandoned),
        "answered_503": load.statuses[503],
        "duplicates_absorbed": outcomes(stack.processor)["duplicate"],
        "dead_lettered": await _depth(stack.cluster, f"{queue}.dead"),
    }
    assert counts["lost"] == 0, counts
    assert counts["doubled"] == 0, counts
    assert counts["applied_not_accepted"] == 0, counts
    assert counts["never_accepted"] == 0, counts
    assert counts["dead_lettered"] == 0, counts
    assert set(history) == set(rows["sales"]), counts
    return counts
