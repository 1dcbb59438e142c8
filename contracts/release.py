"""Which release is installed: what `--version` prints and `tevo_build_info` exports."""

from __future__ import annotations

from importlib import metadata

DISTRIBUTION = "tevo-pos-webhooks"


def version() -> str:
    """The installed release, as `pyproject.toml` names it."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"  # a source tree that was never installed
