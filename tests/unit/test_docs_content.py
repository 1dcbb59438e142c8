"""The docs name every setting of both services and every status the endpoint answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.settings import ServiceSettings
from ingress.errors import Refused
from ingress.settings import IngressSettings
from processor.settings import ProcessorSettings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
SETTINGS = (ROOT / "docs/settings.md").read_text()
ENDPOINT = (ROOT / "docs/webhooks.md").read_text()


@pytest.mark.parametrize("model", [ServiceSettings, IngressSettings, ProcessorSettings])
def test_every_setting_is_in_the_settings_table(model: type[ServiceSettings]) -> None:
    # docs/settings.md is generated (tests/unit/processor/ops/test_generated.py keeps it
    # current); this says in plain words what that promises.
    for name in model.model_fields:
        assert f"| `TEVO_{name.upper()}` |" in SETTINGS, name


def test_the_readme_links_to_the_settings_reference() -> None:
    assert "](docs/settings.md)" in README


def test_every_status_is_in_the_status_table() -> None:
    for status in {cls.status for cls in Refused.__subclasses__()} | {202, 503}:
        assert f"\n| {status} |" in ENDPOINT, status
