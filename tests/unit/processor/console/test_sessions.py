"""Session cookies, CSRF and sign-in tokens, sign-in backoff and password hashes, without I/O."""

from __future__ import annotations

import pytest

from processor.console import accounts, sessions

KEY = b"k" * 32


def test_a_login_token_is_good_only_with_its_own_cookie_and_key() -> None:
    nonce, token = sessions.login_nonce(KEY)
    assert sessions.login_token_good(KEY, nonce, token)
    assert not sessions.login_token_good(KEY, "another-nonce-of-enough-length", token)
    assert not sessions.login_token_good(b"x" * 32, nonce, token)
    assert not sessions.login_token_good(KEY, None, token)
    assert not sessions.login_token_good(KEY, nonce, None)
    assert not sessions.login_token_good(KEY, nonce, nonce)  # unsigned


def test_a_kept_nonce_is_reused_so_two_tabs_can_sign_in() -> None:
    nonce, _ = sessions.login_nonce(KEY)
    again, token = sessions.login_nonce(KEY, nonce)
    assert again == nonce
    assert sessions.login_token_good(KEY, nonce, token)


def test_csrf_wants_the_session_s_own_token() -> None:
    session = sessions.Session("alice", "the-token", "hash")
    assert sessions.csrf_good(session, "the-token")
    assert not sessions.csrf_good(session, "the-token2")
    assert not sessions.csrf_good(session, None)
    assert not sessions.csrf_good(session, "")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failures_beyond_the_free_ones_make_the_next_try_wait_longer() -> None:
    clock = Clock()
    throttle = sessions.Throttle(clock)
    for _ in range(sessions.Throttle.FREE):
        assert throttle.wait("name:alice") == 0
        throttle.failed("name:alice", "address:1")
    assert throttle.wait("name:alice") == 0
    throttle.failed("name:alice", "address:1")
    assert throttle.wait("name:alice") == pytest.approx(sessions.Throttle.FIRST)
    assert throttle.wait("name:bob", "address:1") == pytest.approx(sessions.Throttle.FIRST)
    clock.now += sessions.Throttle.FIRST
    throttle.failed("name:alice")
    assert throttle.wait("name:alice") == pytest.approx(2 * sessions.Throttle.FIRST)
    throttle.succeeded("name:alice", "address:1")
    assert throttle.wait("name:alice", "address:1") == 0


def test_the_wait_has_a_ceiling() -> None:
    throttle = sessions.Throttle(Clock())
    for _ in range(40):
        throttle.failed("name:alice")
    assert throttle.wait("name:alice") == sessions.Throttle.CEILING


def test_a_password_hash_is_salted_scrypt_and_checks_only_its_password() -> None:
    first, second = (
        accounts.hash_password("a-long-password"),
        accounts.hash_password("a-long-password"),
    )
    assert first != second  # salted
    assert first.startswith(f"scrypt${accounts.SCRYPT_N}$")
    assert accounts.password_matches("a-long-password", first)
    assert not accounts.password_matches("a-long-passwore", first)


@pytest.mark.parametrize(
    ("name", "password"),
    [
        ("", "a-long-password"),
        ("has space", "a-long-password"),
        ("alice", "short"),
        ("x" * 65, "a-long-password"),
    ],
)
def test_names_and_passwords_that_are_refused(name: str, password: str) -> None:
    with pytest.raises(accounts.AccountError):
        accounts.check_new(name, password)
