"""Signing in: the password reset by e-mail (a real SMTP server on a free port), the second
factor, the rate limit (in memory, and on Redis shared by two web processes), secrets kept out
of the event log, and who could see a connection on a given day."""

from __future__ import annotations

import re
import time
from datetime import date, timedelta
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest

from application.users import RESET_MAX_AGE
from tests.harness import MERCHANT, Harness, csrf_token, sign_in
from tests.mailbox import smtp  # noqa: F401  (a fixture)
from web.mail import Mail


@pytest.fixture
def h(sqlite_url, smtp):
    controller, _ = smtp
    harness = Harness(sqlite_url, config={"mail": Mail(host="127.0.0.1", port=controller.port,
                                                       security="none")})
    yield harness
    harness.close()


def _stored_events(h) -> bytes:
    return b"".join(n.state for n in h.runtime.app.recorder.select_notifications(1, 10_000))


def _post_form(client, path: str, **fields):
    token = csrf_token(client.get(path).get_data(as_text=True))
    return client.post(path, data={**fields, "csrf_token": token})


def test_a_forgotten_password_is_reset_by_an_e_mailed_link_that_works_once(h, smtp):
    _, box = smtp
    client = h.web.test_client()
    sent = _post_form(client, "/password/forgot", email=MERCHANT[0])
    assert "an e-mail with a link is on its way" in sent.get_data(as_text=True)
    nobody = _post_form(client, "/password/forgot", email="nobody@example.test")
    assert nobody.get_data(as_text=True).count("on its way") == 1  # the same answer
    assert len(box.messages) == 1 and box.messages[0]["To"] == MERCHANT[0]
    link = re.search(r"http\S+/password/reset/\S+", box.messages[0].get_content()).group(0)
    token = link.rsplit("/", 1)[1]

    opened = client.get(urlparse(link).path)
    assert opened.status_code == 302 and opened.headers["Location"] == "/password/reset"
    done = _post_form(client, "/password/reset", password="a-brand-new-password",
                      repeat="a-brand-new-password")
    assert done.status_code == 302 and "/sign-in" in done.headers["Location"]

    assert sign_in(h.web.test_client(), *MERCHANT).status_code == 401
    assert sign_in(h.web.test_client(), MERCHANT[0], "a-brand-new-password").status_code == 302
    assert h.merchant.get("/api/counts").status_code == 401  # the old session ended with it
    again = h.web.test_client()
    again.get(f"/password/reset/{token}")
    assert again.get("/password/reset").status_code == 400  # used once: dead
    assert token.encode() not in _stored_events(h)
    assert b"a-brand-new-password" not in _stored_events(h)


def test_a_reset_link_expires(h, monkeypatch):
    _, token = h.runtime.accounts.reset_token(MERCHANT[0])
    assert h.runtime.accounts.user_for_reset(token) is not None
    later = time.time() + RESET_MAX_AGE + 1
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: later)
    assert h.runtime.accounts.user_for_reset(token) is None


def test_a_reset_link_from_elsewhere_is_refused(h):
    client = h.web.test_client()
    client.get("/password/reset/forged.token.here")
    assert client.get("/password/reset").status_code == 400


def test_support_signs_in_with_a_second_factor(h):
    accounts = h.runtime.accounts
    accounts.add("support@example.test", "support", "support-password", by="test")
    uri = accounts.enable_second_factor("support@example.test", by="test")
    secret = parse_qs(urlparse(uri).query)["secret"][0]
    client = h.web.test_client()
    first = sign_in(client, "support@example.test", "support-password")
    assert first.status_code == 302 and first.headers["Location"] == "/sign-in/code"
    assert client.get("/api/counts").status_code == 401  # the password alone is not enough
    wrong = _post_form(client, "/sign-in/code", code="000000" if pyotp.TOTP(secret).now()
                       != "000000" else "111111")
    assert wrong.status_code == 401
    right = _post_form(client, "/sign-in/code", code=pyotp.TOTP(secret).now())
    assert right.status_code == 302 and client.get("/api/counts").status_code == 200
    assert secret.encode() not in _stored_events(h)


def test_no_password_or_hash_less_secret_enters_the_log(h):
    h.runtime.accounts.add("plain@example.test", "merchant", "plain-text-password", by="test")
    stored = _stored_events(h)
    assert b"plain-text-password" not in stored and b"merchant-password-1" not in stored
    assert b"$argon2id$" in stored  # what is there is the hash


TRIED = ("tried@example.test", "the-right-password")


def _wrong_attempts(client, count: int) -> list[int]:
    return [sign_in(client, TRIED[0], "not-the-password").status_code for _ in range(count)]


def test_sign_in_attempts_are_limited(h):
    h.runtime.accounts.add(*TRIED[:1], "merchant", TRIED[1], by="test")
    client = h.web.test_client()
    assert _wrong_attempts(client, 6) == [401] * 5 + [429]
    locked = sign_in(client, *TRIED)  # even the right password waits now
    assert locked.status_code == 429 and "Too many attempts" in locked.get_data(as_text=True)


@pytest.mark.redis
def test_every_web_process_counts_together_on_redis(sqlite_url, redis_url, queue_prefix):
    """Two apps (two web processes) on one Redis: the attempts add up across them."""
    import redis

    config = {"ratelimit_storage_url": redis_url}
    first = Harness(sqlite_url, prefix=queue_prefix, config=config)
    try:
        first.runtime.accounts.add(TRIED[0], "merchant", TRIED[1], by="test")
        from web.app import create_app

        second = create_app(first.runtime).test_client()  # a second web process's app
        codes = _wrong_attempts(first.web.test_client(), 3) + _wrong_attempts(second, 3)
        assert codes == [401] * 5 + [429]
    finally:
        first.close()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(f"*{queue_prefix}*"))
        assert keys, "the attempts were not counted in Redis"
        client.delete(*keys)
        client.close()


def test_who_could_see_a_connection_on_a_day(h):
    from projections import queries

    accounts, conn = h.runtime.accounts, h.connection.id
    accounts.add("acc@example.test", "accountant", "accountant-password", by="test",
                 connections=[conn])
    accounts.add("help@example.test", "support", "support-password", by="test")
    accounts.add("other@example.test", "merchant", "merchant-password", by="test")
    accounts.revoke("acc@example.test", conn, by="test")
    h.runtime.projector.catch_up()
    today = date.today()  # the events' UTC day (tests do not run across midnight often)
    seen = {(r["email"], r["until"] is None)
            for r in queries.who_could_see(h.runtime.store, str(conn), today)}
    assert seen == {(MERCHANT[0], True), ("acc@example.test", False),
                    ("help@example.test", True)}
    assert queries.who_could_see(h.runtime.store, str(conn), today - timedelta(days=1)) == []
    tomorrow = {r["email"] for r in
                queries.who_could_see(h.runtime.store, str(conn), today + timedelta(days=1))}
    assert tomorrow == {MERCHANT[0], "help@example.test"}  # the revoked grant is over


def test_the_reset_link_never_reaches_the_access_log(h, caplog):
    import logging

    import httpx

    from sandbox.serve import serve
    from web.logs import HIDDEN

    caplog.set_level(logging.INFO, logger="werkzeug")
    _, token = h.runtime.accounts.reset_token(MERCHANT[0])
    with serve(h.web, keep_alive=False) as server:
        opened = httpx.get(f"{server.url}/password/reset/{token}")
    assert opened.status_code == 302
    assert f"/password/reset/{HIDDEN}" in caplog.text and token not in caplog.text
