"""TEvo API settings: verification is on with both credentials, and they never show."""

from __future__ import annotations

from contextlib import AsyncExitStack

import pytest
from pydantic import ValidationError

from processor.settings import ProcessorSettings
from processor.tevo.api import TevoApi, open_api


async def verification_on(settings: ProcessorSettings) -> bool:
    """Whether the processor would verify webhooks: the client `processor.app` opens."""
    async with AsyncExitStack() as stack:
        return isinstance(await open_api(stack, settings), TevoApi)


async def test_verification_is_off_by_default() -> None:
    settings = ProcessorSettings()
    assert not await verification_on(settings)
    assert settings.api_url == "https://api.ticketevolution.com/v9"


async def test_both_credentials_turn_verification_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEVO_API_URL", "https://api.sandbox.ticketevolution.com/v9")
    monkeypatch.setenv("TEVO_API_TOKEN", "token-abc")
    monkeypatch.setenv("TEVO_API_SECRET", "secret-xyz")
    settings = ProcessorSettings()
    assert await verification_on(settings)
    assert settings.api_url == "https://api.sandbox.ticketevolution.com/v9"
    assert "secret-xyz" not in repr(settings)
    assert "token-abc" not in repr(settings)


async def test_empty_variables_mean_not_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEVO_API_TOKEN", "")
    monkeypatch.setenv("TEVO_API_SECRET", " ")
    assert not await verification_on(ProcessorSettings())


def test_one_credential_alone_is_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEVO_API_TOKEN", "token-abc")
    with pytest.raises(ValidationError, match="`api_token` and `api_secret`") as refused:
        ProcessorSettings()
    assert "token-abc" not in str(refused.value)


@pytest.mark.parametrize(
    "url", ["https://api.ticketevolution.com/v9/", "ftp://api.ticketevolution.com/v9", "v9"]
)
def test_a_malformed_api_url_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="api_url"):
        ProcessorSettings(api_url=url)


def test_api_calls_must_fit_inside_the_handler_timeout() -> None:
    assert ProcessorSettings(api_timeout=5, api_attempts=3, handler_timeout=30)
    with pytest.raises(ValidationError, match="handler_timeout"):
        ProcessorSettings(api_timeout=10, api_attempts=3, handler_timeout=30)


def test_retention_periods_have_safe_defaults_and_durations_read_both_ways(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = ProcessorSettings()
    assert settings.retention_inbox.days == 30
    assert settings.retention_pii.days < settings.retention_history.days
    monkeypatch.setenv("TEVO_RETENTION_PII", "P90D")
    monkeypatch.setenv("TEVO_RETENTION_DEAD_LETTERS", "7200")
    settings = ProcessorSettings()
    assert settings.retention_pii.days == 90
    assert settings.retention_dead_letters.total_seconds() == 7200


@pytest.mark.parametrize("name", ["INBOX", "HISTORY", "VERSIONS", "PII"])
def test_a_retention_period_below_a_day_is_refused(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    # an inbox forgotten within TEvo's retries would let them through; the others, an accident
    monkeypatch.setenv(f"TEVO_RETENTION_{name}", "3600")
    with pytest.raises(ValidationError, match=f"retention_{name.lower()}"):
        ProcessorSettings()


def test_the_management_api_url_is_checked_and_blank_means_derived(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEVO_RABBITMQ_API_URL", "")
    assert ProcessorSettings().rabbitmq_api_url is None
    monkeypatch.setenv("TEVO_RABBITMQ_API_URL", "rabbitmq:15672")
    with pytest.raises(ValidationError, match="rabbitmq_api_url"):
        ProcessorSettings()


def test_the_held_delivery_limit_must_exceed_the_handler_timeout() -> None:
    assert ProcessorSettings(held_delivery_limit=31, handler_timeout=30)
    with pytest.raises(ValidationError, match="held_delivery_limit"):
        ProcessorSettings(held_delivery_limit=30, handler_timeout=30)
