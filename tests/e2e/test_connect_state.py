"""The Billit connect flow's ``state``: bound to the browser session that started it, single
use (in every web process), and valid for minutes only. A refused callback binds nothing."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlparse

import pytest
from itsdangerous import TimestampSigner

from tests.harness import BOOKS_FROM, MERCHANT, Harness, sign_in
from web.app import create_app
from web.connect_state import MAX_AGE, SpentStates

OAUTH = {'api_key = "demo-billit-key"\n': ""}  # no API key: the connect flow's tokens


@pytest.fixture
def billit(database_url):
    h = Harness(database_url, ledger="billit")
    h.change_settings(**OAUTH)
    yield h
    h.close()


def _consent(h: Harness, client) -> str:
    """Start connecting in ``client``'s browser session and pass Billit's consent page;
    the callback path with its query, as Billit sends the browser back."""
    start = client.get(f"/connections/{h.connection.id}/billit/connect")
    assert start.status_code == 302
    consent = h.billit.get(start.headers["Location"].replace("http://billit.sandbox", ""))
    back = urlparse(consent.headers["Location"])
    assert back.path.endswith("/billit/callback") and parse_qs(back.query)["code"]
    return f"{back.path}?{back.query}"


def _grants(h: Harness) -> int:
    return sum(type(e).__name__ == "LedgerTokensIssued"
               for e in h.runtime.app.history(h.connection.id))


def test_the_callback_in_the_browser_that_started_it_connects_once(billit):
    callback = _consent(billit, billit.merchant)
    cookie_before = billit.merchant.get_cookie("session").value
    done = billit.merchant.get(callback)
    assert done.status_code == 200 and "Billit is connected" in done.get_data(as_text=True)
    assert _grants(billit) == 1

    assert billit.merchant.get(callback).status_code == 400  # the session let the state go
    # Someone who copied the request, session cookie and all, replays it: the database
    # remembers the state was spent.
    copy = billit.web.test_client()
    copy.set_cookie("session", cookie_before)
    replayed = copy.get(callback)
    assert replayed.status_code == 400
    assert "already used" in replayed.get_data(as_text=True)
    assert _grants(billit) == 1  # the replays bound nothing


def test_a_callback_in_another_browser_session_is_refused(billit):
    callback = _consent(billit, billit.merchant)
    # The victim's browser, handed the attacker's link: signed in (as someone who may manage
    # the connection), but not the session that started connecting.
    stranger = billit.web.test_client()
    assert sign_in(stranger, *MERCHANT).status_code == 302
    refused = stranger.get(callback)
    assert refused.status_code == 400
    assert "started in another browser" in refused.get_data(as_text=True)
    assert _grants(billit) == 0
    # Refusing it did not spend it: the browser that started may still finish.
    assert billit.merchant.get(callback).status_code == 200 and _grants(billit) == 1


def test_a_state_older_than_its_minutes_is_refused(billit, monkeypatch):
    issued_at = int(time.time()) - MAX_AGE - 5
    with monkeypatch.context() as past:
        past.setattr(TimestampSigner, "get_timestamp", lambda self: issued_at)
        # signed in back then too: a session signed now would look as if from the future
        client = billit.web.test_client()
        assert sign_in(client, *MERCHANT).status_code == 302
        callback = _consent(billit, client)
    refused = client.get(callback)
    assert refused.status_code == 400 and "has expired" in refused.get_data(as_text=True)
    assert _grants(billit) == 0


def test_a_forged_or_misdirected_state_is_refused(billit):
    callback = _consent(billit, billit.merchant)
    forged = callback.replace("state=", "state=x")
    assert billit.merchant.get(forged).status_code == 400
    from tests.harness import test_settings

    other, _ = billit.runtime.connections.save(test_settings(
        billit.shop_url, "billit", **OAUTH, **{'name = "Demo shop"': 'name = "Other shop"'}),
        by="test", start_date=BOOKS_FROM)
    # the merchant owns both, so only the state (not the right to manage) is wrong
    billit.runtime.accounts.grant(MERCHANT[0], other.id, by="test")
    elsewhere = callback.replace(str(billit.connection.id), str(other.id))
    refused = billit.merchant.get(elsewhere)
    assert refused.status_code == 400 and "another connection" in refused.get_data(as_text=True)
    assert _grants(billit) == 0


def test_a_state_is_spent_once_across_web_processes(billit):
    """Two web processes each have their own store handle on the same database."""
    other_process = SpentStates(type(billit.runtime.store)(billit.config.database_url))
    now = datetime.now(timezone.utc)
    assert billit.runtime.spent_states.spend("nonce-1", now)
    assert not other_process.spend("nonce-1", now)
    assert other_process.spend("nonce-2", now) and not billit.runtime.spent_states.spend(
        "nonce-2", now)
    other_process.store.close()


@pytest.mark.parametrize("public_url, secure", [("http://koppel.test", False),
                                                ("https://koppel.example", True)])
def test_the_session_cookie_is_http_only_same_site_and_secure_on_https(billit, public_url,
                                                                        secure):
    billit.runtime.config = billit.runtime.config.with_(public_url=public_url)
    client = create_app(billit.runtime).test_client()
    start = client.get("/sign-in")  # its form's CSRF token is the session's first content
    [cookie] = [c for c in start.headers.getlist("Set-Cookie") if c.startswith("session=")]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=lax"} <= {part.strip().lower() for part in cookie.split(";")}
    assert ("secure" in attributes) == secure
