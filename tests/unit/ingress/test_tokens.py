"""Tokens: compared in constant time, several at once for rotation, and strong or refused."""

from __future__ import annotations

import secrets

import pytest

from ingress.settings import IngressSettings
from ingress.tokens import MIN_LENGTH, token_matches, token_problem, weak_tokens
from tests.payloads import FORM_HEADERS, form, order
from tests.unit.ingress.conftest import OLD_TOKEN, TOKEN, FakePublisher, MakeClient


def test_token_matches_any_configured_token_and_nothing_else() -> None:
    tokens = (OLD_TOKEN, TOKEN)
    assert token_matches(TOKEN, tokens)
    assert token_matches(OLD_TOKEN, tokens)
    assert not token_matches(TOKEN[:-1], tokens)
    assert not token_matches(TOKEN + "x", tokens)
    assert not token_matches("", tokens)
    assert not token_matches(TOKEN, ())
    assert not token_matches("\udcff", tokens)  # a lone surrogate is refused, not a crash


@pytest.mark.parametrize(
    "token",
    [
        secrets.token_urlsafe(32),
        secrets.token_urlsafe(18),
        secrets.token_hex(16),
        "Correct-Horse-Battery-Staple-42",
    ],
)
def test_strong_tokens_pass(token: str) -> None:
    assert token_problem(token) is None


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        ("", f"shorter than {MIN_LENGTH}"),
        (secrets.token_urlsafe(16)[:23], f"shorter than {MIN_LENGTH}"),
        (secrets.token_hex(16) + "/x", "characters other than"),
        (secrets.token_hex(16) + " x", "characters other than"),
        ("ab" * 20, "different characters"),
        ("local-dev-token-change-me", "placeholder"),
        ("my-EXAMPLE-token-0123456789", "placeholder"),
        (secrets.token_hex(12), "bits"),  # 24 hex digits: 96 bits
        ("abcdefghijklmnopqrstuvwxyz", "bits"),
    ],
)
def test_weak_tokens_are_named_without_quoting_them(token: str, problem: str) -> None:
    found = token_problem(token)
    assert found is not None
    assert problem in found
    if token:
        assert token not in found


def test_weak_tokens_gives_positions() -> None:
    assert [p for p, _ in weak_tokens([TOKEN, "short", OLD_TOKEN, "changeme" * 4])] == [2, 4]


async def test_rotation_accepts_old_and_new_while_both_are_configured(
    make_client: MakeClient, publisher: FakePublisher
) -> None:
    both = await make_client(webhook_tokens=(OLD_TOKEN, TOKEN))
    for token in (OLD_TOKEN, TOKEN):
        response = await both.post(
            f"/webhooks/tevo/{token}", data=form(order()), headers=FORM_HEADERS
        )
        assert response.status == 202
    assert len(publisher.published) == 2

    rotated = await make_client(webhook_tokens=(TOKEN,))
    old = await rotated.post(
        f"/webhooks/tevo/{OLD_TOKEN}", data=form(order()), headers=FORM_HEADERS
    )
    assert old.status == 401
    new = await rotated.post(f"/webhooks/tevo/{TOKEN}", data=form(order()), headers=FORM_HEADERS)
    assert new.status == 202
    assert len(publisher.published) == 3


def test_tokens_from_the_environment_are_split_and_trimmed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEVO_WEBHOOK_TOKENS", f" {OLD_TOKEN} ,, {TOKEN} ,")
    assert IngressSettings().webhook_tokens == (OLD_TOKEN, TOKEN)
