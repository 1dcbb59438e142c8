"""Settings problems name the TEVO_* variable; unknown TEVO_* variables are found, typos guessed."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from contracts import variables
from contracts.settings import postgres_address, postgres_url
from contracts.settings_errors import describe, unknown_variables
from ingress.settings import IngressSettings
from processor.settings import ProcessorSettings


def _refused(monkeypatch: pytest.MonkeyPatch, **environ: str) -> list[str]:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as refused:
        ProcessorSettings()
    return describe(refused.value)


def test_a_field_error_names_the_variable_not_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    (line,) = _refused(monkeypatch, TEVO_PREFETCH="abc")
    assert line.startswith("TEVO_PREFETCH: ")
    assert "integer" in line
    assert "errors.pydantic.dev" not in line
    assert "abc" not in line  # the input is never shown: it may be a secret


def test_a_rule_across_settings_names_each_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    (line,) = _refused(monkeypatch, TEVO_API_TOKEN="token-abc")
    assert line == "set both TEVO_API_TOKEN and TEVO_API_SECRET, or neither"


@pytest.mark.parametrize(
    "url",
    ["notaurl", "mysql://db/tevo", "postgresql://db:port/tevo", "http://db/tevo"],
)
def test_a_database_url_is_checked_at_start(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    (line,) = _refused(monkeypatch, TEVO_DATABASE_URL=url)
    assert line.startswith("TEVO_DATABASE_URL: ")
    assert url not in line


def test_an_amqp_url_is_checked_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    (line,) = _refused(monkeypatch, TEVO_AMQP_URL="notaurl")
    assert line.startswith("TEVO_AMQP_URL: URL 1 is not amqp://")


def test_a_postgres_address_never_shows_the_password() -> None:
    url = "postgresql://tevo:s3cret@db.internal:6432/pos"
    assert postgres_url(url).hostname == "db.internal"
    assert postgres_address(url) == "db.internal:6432/pos"
    assert postgres_address("postgresql:///pos") == "localhost:5432/pos"


def test_unknown_variables_are_found_with_what_they_likely_meant() -> None:
    environ = {
        "TEVO_RISKIFED": "false",
        "TEVO_RISKIFIED": "true",
        "TEVO_SOMETHING_ELSE": "1",
        "TEVO_INGRESS_PORT": "8080",  # the other program's: known
        "HOME": "/root",
    }
    assert unknown_variables(environ, variables.ALL) == {
        "TEVO_RISKIFED": "TEVO_RISKIFIED",
        "TEVO_SOMETHING_ELSE": None,
    }


def test_the_list_of_variables_is_what_the_settings_classes_read() -> None:
    def names(fields: object) -> set[str]:
        return {f"TEVO_{name.upper()}" for name in fields}  # type: ignore[attr-defined]

    ingress, processor = names(IngressSettings.model_fields), names(ProcessorSettings.model_fields)
    assert ingress | processor == variables.ALL
    assert ingress & processor == variables.SHARED
    assert ingress - processor == variables.INGRESS
    assert processor - ingress == variables.PROCESSOR
