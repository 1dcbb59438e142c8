"""The README documents every ingress setting and every status the endpoint answers."""

from __future__ import annotations

from pathlib import Path

from ingress.errors import Refused
from ingress.settings import IngressSettings

README = (Path(__file__).resolve().parents[3] / "README.md").read_text()


def test_every_ingress_setting_is_in_the_settings_table() -> None:
    for name in IngressSettings.model_fields:
        assert f"| `TEVO_{name.upper()}` |" in README, name


def test_every_status_is_in_the_status_table() -> None:
    for status in {cls.status for cls in Refused.__subclasses__()} | {202, 503}:
        assert f"\n| {status} |" in README, status
