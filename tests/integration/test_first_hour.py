"""What a new operator meets first, on real services: a database that does not exist is named as
such, with the variable and the address, not as "cannot reach"."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid

import pytest

from tests.conftest import Services, _with_database
from tests.processes import ROOT, service_env

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("args", [("review", "list"), ("reconcile",)])
def test_a_missing_database_is_one_line_naming_it(
    services: Services, args: tuple[str, ...]
) -> None:
    missing = f"tevo_missing_{uuid.uuid4().hex[:8]}"
    url = _with_database(services.database_url, missing)
    env = service_env(
        {"TEVO_DATABASE_URL": url, "TEVO_API_TOKEN": "token", "TEVO_API_SECRET": "secret"}
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "processor", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("processor ")]
    assert line.startswith(f"processor {args[0]}: Postgres (TEVO_DATABASE_URL) at ")
    assert f"/{missing} has no such database" in line
    assert "cannot reach" not in line


def test_the_console_on_a_taken_port_is_one_line_naming_the_setting(
    services: Services, database_url: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = service_env(
            {
                "TEVO_AMQP_URL": services.amqp_url,
                "TEVO_DATABASE_URL": database_url,
                "TEVO_CONSOLE_SECRET_KEY": "k" * 40,
                "TEVO_CONSOLE_HOST": "127.0.0.1",
                "TEVO_CONSOLE_PORT": str(port),
            }
        )
        result = subprocess.run(
            [sys.executable, "-m", "processor", "console"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("processor ")]
    assert line.startswith(
        f"processor console: cannot listen on 127.0.0.1:{port} (TEVO_CONSOLE_HOST, "
        "TEVO_CONSOLE_PORT): "
    )
