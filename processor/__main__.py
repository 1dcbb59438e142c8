"""`python -m processor [command]`: run the consumers (default), migrate, and operator commands."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import structlog
from pydantic import ValidationError

from contracts import variables
from contracts.logs import configure_logging
from contracts.release import version
from contracts.settings_errors import describe, unknown_variables
from contracts.tracing import configure_tracing
from processor.commands import COMMANDS, DEFAULT
from processor.commands.unreachable import UNREACHABLE, one_line
from processor.errors import CannotStart
from processor.runtime.tracing import instrument
from processor.settings import ProcessorSettings

EPILOG = (
    "Settings come from TEVO_* environment variables (docs/settings.md); "
    "`python -m processor COMMAND --help` tells a command's options."
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m processor", description=__doc__, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="command", metavar="command")
    for command in COMMANDS:
        command.add_arguments(commands.add_parser(command.NAME, help=command.HELP))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = ProcessorSettings()
    except ValidationError as exc:
        # Without the input values: a bad setting must not print the API secret next to it.
        problems = "".join(f"\n  {line}" for line in describe(exc))
        print(f"processor: invalid settings:{problems}", file=sys.stderr)
        return 2
    name = args.command or DEFAULT
    # Only the consumers are traced: an operator's command is not part of a webhook's trace.
    shutdown_tracing = configure_tracing("tevo-processor") if name == DEFAULT else None
    if shutdown_tracing is not None:
        instrument()
    configure_logging(
        settings.log_level,
        settings.log_format,
        message_key=settings.log_message_key,
        traced=shutdown_tracing is not None,
    )
    for variable, meant in unknown_variables(os.environ, variables.ALL).items():
        structlog.get_logger("processor").warning(
            "settings.unknown_variable", variable=variable, did_you_mean=meant
        )
    command = next(c for c in COMMANDS if c.NAME == name)  # noqa: SIM300 - NAME is an attribute, not a constant
    try:
        return asyncio.run(command.main(args, settings))
    except CannotStart as exc:
        print(f"processor {name}: {exc}", file=sys.stderr)
        return 1
    except UNREACHABLE as exc:
        line = one_line(name, exc, settings)
        if line is None:
            raise
        print(line, file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (`review list --json | head`): what it read stands, no
        # traceback. Python's own advice (signal docs): point stdout at devnull for the exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        if shutdown_tracing is not None:
            shutdown_tracing()  # the last spans leave before the process does


if __name__ == "__main__":
    sys.exit(main())
