"""Both programs answer --help and --version, refuse an unasked purge, and say in one line
which store is down instead of printing a traceback."""

from __future__ import annotations

import os
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
