"""Both programs answer --help and --version, refuse an unasked purge, and say in one line
which store is down instead of printing a traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from aiormq.exceptions import AMQPConnectionError

from contracts.release import version
from processor.__main__ import main
from processor.commands.unreachable import one_line
from processor.ops.progress import Silent, bar
from processor.settings import ProcessorSettings

ROOT = Path(__file__).resolve().parents[4]
NOTHING_LISTENS = "127.0.0.1:1"


def _processor(*args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEVO_")}
    env.update(TEVO_LOG_FORMAT="json", **settings)
    return subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "processor", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_processor_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"python -m processor {version()}"
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "dead-letters" in out
    assert "docs/settings.md" in out


def test_purge_wants_a_consumer_or_all(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["dead-letters", "purge"])
    assert exited.value.code == 2
    assert "--consumer --all is required" in capsys.readouterr().err


def test_purge_all_wants_yes(capsys: pytest.CaptureFixture[str]) -> None:
    # Refused before any connection: the default broker URL is never tried.
    assert main(["dead-letters", "purge", "--all"]) == 2
    assert "add --yes" in capsys.readouterr().err


def test_a_broker_that_is_down_is_one_line_not_a_traceback() -> None:
    url = f"amqp://guest:s3cret-pw@{NOTHING_LISTENS}/"
    result = _processor("unrouted", "list", TEVO_AMQP_URL=url)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("processor ")]
    assert line.startswith(
        f"processor unrouted: cannot reach RabbitMQ (TEVO_AMQP_URL) at {NOTHING_LISTENS}: "
    )
    assert "s3cret-pw" not in result.stderr


def test_a_database_that_is_down_is_one_line_not_a_traceback() -> None:
    url = f"postgresql://postgres:s3cret-pw@{NOTHING_LISTENS}/tevo"
    credentials = {"TEVO_API_TOKEN": "token", "TEVO_API_SECRET": "secret"}
    result = _processor("reconcile", TEVO_DATABASE_URL=url, **credentials)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    where = f"Postgres (TEVO_DATABASE_URL) at {NOTHING_LISTENS}/tevo"
    assert f"processor reconcile: cannot reach {where}: " in result.stderr
    assert "s3cret-pw" not in result.stderr


def test_migrate_waits_for_a_database_that_is_down_then_fails_without_a_traceback() -> None:
    url = f"postgresql://postgres:s3cret-pw@{NOTHING_LISTENS}/tevo"
    result = _processor("migrate", "--wait", "1", TEVO_DATABASE_URL=url)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "s3cret-pw" not in result.stderr


def test_an_os_error_of_our_own_is_not_called_a_store_down() -> None:
    with pytest.raises(OSError, match="nonexistent") as raised:
        Path("/nonexistent-dir/for-sure/file").write_text("x")
    assert one_line("generate", raised.value, ProcessorSettings()) is None


def test_credentials_in_an_error_message_are_masked() -> None:
    refused = AMQPConnectionError("amqp://tevo:hunter2@rabbit:5672/ refused")
    line = one_line("x", refused, ProcessorSettings())
    assert line is not None
    assert "hunter2" not in line
    assert "amqp://tevo:***@rabbit" in line


def test_progress_shows_n_of_n_and_a_rate(capsys: pytest.CaptureFixture[str]) -> None:
    with bar("tevo.x.dead", disable=False) as progress:
        progress.reset(total=3)
        for _ in range(3):
            progress.update(1)
        progress.refresh()
        shown = capsys.readouterr().err
    assert "tevo.x.dead: 3/3" in shown
    assert "message/s" in shown
    silent = Silent()
    silent.reset(total=3)
    assert silent.update(1) is None


def test_a_bad_setting_names_its_variable_not_the_field() -> None:
    result = _processor("review", "list", TEVO_PREFETCH="abc")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "  TEVO_PREFETCH: Input should be a valid integer" in result.stderr
    assert "errors.pydantic.dev" not in result.stderr


def test_a_database_url_that_is_no_url_is_refused_at_start() -> None:
    result = _processor("review", "list", TEVO_DATABASE_URL="notaurl")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "  TEVO_DATABASE_URL: not a postgresql://" in result.stderr


@pytest.mark.parametrize(
    ("args", "store", "where"),
    [
        (("review", "list"), "Postgres (TEVO_DATABASE_URL)", f"{NOTHING_LISTENS}/tevo"),
        (("dead-letters", "list"), "RabbitMQ (TEVO_AMQP_URL)", NOTHING_LISTENS),
        (("unrouted", "list"), "RabbitMQ (TEVO_AMQP_URL)", NOTHING_LISTENS),
    ],
)
def test_every_command_says_cannot_reach_one_way(
    args: tuple[str, ...], store: str, where: str
) -> None:
    result = _processor(
        *args,
        TEVO_AMQP_URL=f"amqp://guest:s3cret-pw@{NOTHING_LISTENS}/",
        TEVO_DATABASE_URL=f"postgresql://postgres:s3cret-pw@{NOTHING_LISTENS}/tevo",
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("processor ")]
    assert line.startswith(f"processor {args[0]}: cannot reach {store} at {where}: ")
    assert "s3cret-pw" not in result.stderr


def test_an_unknown_variable_is_warned_of_once_with_its_likely_meaning() -> None:
    result = _processor(
        "review",
        "list",
        TEVO_RISKIFED="false",
        TEVO_WEBHOOK_TOKENS="the ingress's: known",
        TEVO_DATABASE_URL=f"postgresql://postgres@{NOTHING_LISTENS}/tevo",
    )
    warned = [
        json.loads(line)
        for line in result.stderr.splitlines()
        if "settings.unknown_variable" in line
    ]
    assert [(w["variable"], w["did_you_mean"]) for w in warned] == [
        ("TEVO_RISKIFED", "TEVO_RISKIFIED")
    ]


def test_a_taken_http_port_is_one_line_naming_the_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _processor(
            TEVO_PROCESSOR_HTTP_HOST="127.0.0.1",
            TEVO_PROCESSOR_HTTP_PORT=str(port),
            TEVO_DATABASE_URL=f"postgresql://postgres@{NOTHING_LISTENS}/tevo",
        )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("processor ")]
    assert line.startswith(
        f"processor run: cannot listen on 127.0.0.1:{port} (TEVO_PROCESSOR_HTTP_HOST, "
        "TEVO_PROCESSOR_HTTP_PORT): "
    )
