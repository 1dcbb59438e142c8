"""`python -m processor [command]`: run the consumers (default), migrate, and operator commands."""

from __future__ import annotations

import argparse
import asyncio
import sys

from pydantic import ValidationError

from contracts.logs import configure_logging
from contracts.release import version
from processor.commands import COMMANDS, DEFAULT
from processor.commands.unreachable import UNREACHABLE, one_line
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
        print(f"processor: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    name = args.command or DEFAULT
    command = next(c for c in COMMANDS if c.NAME == name)  # noqa: SIM300 - NAME is an attribute, not a constant
    try:
        return asyncio.run(command.main(args, settings))
    except UNREACHABLE as exc:
        line = one_line(name, exc)
        if line is None:
            raise
        print(line, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
