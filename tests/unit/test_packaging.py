"""What an install gets: both programs on the PATH, typed packages, the licence, a changelog that
names every migration, a security policy."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import pytest

from processor.migrations import migration_files

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.mark.parametrize(
    ("script", "module"),
    [("tevo-ingress", "ingress.__main__"), ("tevo-processor", "processor.__main__")],
)
def test_each_program_is_a_console_script(script: str, module: str) -> None:
    target = PROJECT["project"]["scripts"][script]
    assert target == f"{module}:main"
    assert callable(importlib.import_module(module).main)


@pytest.mark.parametrize("package", ["contracts", "ingress", "processor"])
def test_each_package_is_typed(package: str) -> None:
    assert (ROOT / package / "py.typed").exists()
    assert "py.typed" in PROJECT["tool"]["setuptools"]["package-data"][package]


def test_the_licence_is_mit_as_pyproject_says() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert PROJECT["project"]["license"] == {"text": "MIT"}
    assert text.startswith("MIT License\n\nCopyright (c) 2026 tevo-pos-webhooks contributors\n")


def test_the_changelog_names_every_migration() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    for version, name, _sql in migration_files():
        assert f"`{version:03d}_{name}`" in changelog


def test_there_is_a_security_policy() -> None:
    policy = (ROOT / "SECURITY.md").read_text()
    assert "## Reporting a vulnerability" in policy
