"""The lock files pin every dependency `pyproject.toml` asks for, within its bounds.

A dependency added to `pyproject.toml` without running uv (requirements/README.md) fails here,
before CI or the image would install a set that lacks it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[3]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.MULTILINE)


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / lock).read_text()
    return {canonicalize_name(name): version for name, version in PIN.findall(text)}


def _requirements(extras: tuple[str, ...]) -> list[Requirement]:
    found = [Requirement(r) for r in PROJECT["dependencies"]]
    for extra in extras:
        found += [Requirement(r) for r in PROJECT["optional-dependencies"][extra]]
    own = canonicalize_name(PROJECT["name"])
    return [r for r in found if canonicalize_name(r.name) != own]  # `dev` includes `test`


@pytest.mark.parametrize(("lock", "extras"), [("app.txt", ()), ("dev.txt", ("test", "dev"))])
def test_every_dependency_is_pinned_within_its_bounds(lock: str, extras: tuple[str, ...]) -> None:
    pinned = pins(lock)
    for requirement in _requirements(extras):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is not in requirements/{lock}"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{lock} pins {requirement.name}=={pinned[name]}, outside {requirement.specifier}"
        )


def test_every_pin_carries_hashes() -> None:
    for lock in ("app.txt", "dev.txt"):
        text = (ROOT / "requirements" / lock).read_text()
        entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
        assert entries
        for entry in entries:
            assert "--hash=sha256:" in entry, (lock, entry.split(" ", 1)[0])


def test_the_image_and_ci_install_from_the_locks() -> None:
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    assert "--require-hashes -r requirements/app.txt" in dockerfile
    ci = (ROOT / ".ci/run").read_text()
    assert "--require-hashes -r requirements/dev.txt" in ci
