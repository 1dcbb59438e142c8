"""`python -m ingress` will not guard the POS with no token or a weak one, and never prints it."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
WEAK = "local-dev-token-change-me"


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEVO_")}
    env.update(
        TEVO_LOG_FORMAT="json",
        TEVO_AMQP_URL="amqp://guest:guest@127.0.0.1:1/",  # nothing listens on port 1
        TEVO_INGRESS_HOST="127.0.0.1",
        **settings,
    )
    return env


async def _run(env: dict[str, str], *, within: float = 30) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ingress", cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=within)
    assert process.returncode is not None
    return process.returncode, stderr.decode()


async def test_no_token_no_start() -> None:
    code, stderr = await _run(_env())
    assert code == 2
    assert "ingress.no_tokens" in stderr
    assert "token_urlsafe" in stderr  # the message says how to make one


async def test_a_weak_token_stops_the_start_and_is_not_printed() -> None:
    strong = "z3PYedMTfMsXi2agaNIwGpqS"
    code, stderr = await _run(_env(TEVO_WEBHOOK_TOKENS=f"{strong},{WEAK}"))
    assert code == 2
    assert '"token_position": 2' in stderr
    assert "placeholder" in stderr
    assert WEAK not in stderr
    assert strong not in stderr


async def test_invalid_settings_are_named_without_their_values() -> None:
    code, stderr = await _run(
        _env(TEVO_WEBHOOK_TOKENS=WEAK, TEVO_ALLOWED_NETWORKS="192.0.2.1/24", TEVO_BODY_TIMEOUT="-1")
    )
    assert code == 2
    assert "TEVO_ALLOWED_NETWORKS" in stderr
    assert "TEVO_BODY_TIMEOUT" in stderr
    assert WEAK not in stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_development_override_starts_loudly() -> None:
    env = _env(
        TEVO_WEBHOOK_TOKENS=WEAK, TEVO_ALLOW_WEAK_TOKENS="true", TEVO_INGRESS_PORT=str(_free_port())
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ingress", cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE
    )
    assert process.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(30):
            while "ingress.starting" not in "".join(lines):
                line = (await process.stderr.readline()).decode()
                assert line, f"ingress exited: {''.join(lines)}"
                lines.append(line)
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=30)
    output = "".join(lines)
    assert '"level": "warning"' in output
    assert "ingress.weak_tokens_allowed" in output
    assert WEAK not in output


async def test_help_and_version_answer_without_starting_a_server() -> None:
    for flag, expected in (("--help", "TEVO_WEBHOOK_TOKENS"), ("--version", "python -m ingress")):
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ingress",
            flag,
            cwd=ROOT,
            env=_env(),  # no token: a start would fail with ingress.no_tokens instead
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=30)
        assert process.returncode == 0, err.decode()
        assert expected in out.decode()
        assert "ingress.no_tokens" not in err.decode()


STRONG = "z3PYedMTfMsXi2agaNIwGpqS"


async def test_a_taken_port_is_one_line_naming_the_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, stderr = await _run(_env(TEVO_WEBHOOK_TOKENS=STRONG, TEVO_INGRESS_PORT=str(port)))
    assert code == 1
    assert "Traceback" not in stderr
    (line,) = [x for x in stderr.splitlines() if x.startswith("ingress: ")]
    assert line.startswith(f"ingress: cannot listen on 127.0.0.1:{port} (TEVO_INGRESS_HOST, ")
    assert "TEVO_INGRESS_PORT" in line


async def test_it_says_when_it_listens_and_when_it_stopped_and_warns_of_a_typo_once() -> None:
    env = _env(
        TEVO_WEBHOOK_TOKENS=STRONG,
        TEVO_INGRESS_PORT=str(_free_port()),
        TEVO_CONFIRM_TIMEUOT="3",  # a typo
        TEVO_DATABASE_URL="postgresql://db/tevo",  # the processor's: known, not warned about
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ingress", cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE
    )
    assert process.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):  # a loaded machine imports slowly
            while "ingress.listening" not in "".join(lines):
                line = (await process.stderr.readline()).decode()
                assert line, f"ingress exited: {''.join(lines)}"
                lines.append(line)
    finally:
        process.terminate()
        rest = await asyncio.wait_for(process.stderr.read(), timeout=60)
        await asyncio.wait_for(process.wait(), timeout=60)
    started = [json.loads(line) for line in lines if line.startswith("{")]
    unknown = [e for e in started if e["event"] == "settings.unknown_variable"]
    assert [(e["variable"], e["did_you_mean"]) for e in unknown] == [
        ("TEVO_CONFIRM_TIMEUOT", "TEVO_CONFIRM_TIMEOUT")
    ]
    (listening,) = [e for e in started if e["event"] == "ingress.listening"]
    assert listening["address"] == env["TEVO_INGRESS_HOST"] + ":" + env["TEVO_INGRESS_PORT"]
    assert '"event": "ingress.stopped"' in rest.decode()
    assert process.returncode == 0
