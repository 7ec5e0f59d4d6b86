"""Installing koppel from the CCV App Store, the sandbox shop playing the App Store's part
(ccvshop-api.md, section 1b): handshake, install, uninstall, each signed, forgeries refused."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from domain.app_install import LEDGER_NOT_CONNECTED, UNINSTALLED
from sandbox.appstore import app_hash
from sandbox.generator import generate
from tests.harness import LEDGER_TOKEN, PUBLIC_URL, Harness, csrf_token

APP_SECRET = "the-app-secret-key"
URLS = {"handshake_url": f"{PUBLIC_URL}/ccv/handshake", "install_url": f"{PUBLIC_URL}/ccv/install",
        "uninstall_url": f"{PUBLIC_URL}/ccv/uninstall", "app_secret": APP_SECRET}


@pytest.fixture
def store(database_url):
    h = Harness(database_url, config={"ccv_app_secret": APP_SECRET})
    yield h
    h.close()


def _install(h: Harness, client=None):
    """The merchant presses Install in the App Store; their browser follows the redirect."""
    pressed = h.shop.post("/__sandbox/appstore/install", json=URLS).json()
    assert pressed["handshake_status"] == 200
    return (client or h.client).get(pressed["redirect"][len(PUBLIC_URL):])


def _make_account(h: Harness, client, email: str, password: str):
    """The form koppel shows after the install: the account that owns the connection."""
    form = client.get("/ccv/account")
    assert form.status_code == 200
    return client.post("/ccv/account", data={"email": email, "password": password,
                                             "csrf_token": csrf_token(form.get_data(True))})


def _installed(h: Harness):
    return h.runtime.app.connection_named("shop.sandbox")


def test_installing_from_the_app_store_makes_a_connection_that_waits_for_its_ledger(store):
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    browser = store.web.test_client()
    landed = _install(store, browser)
    assert landed.status_code == 302 and landed.headers["Location"] == "/ccv/account"
    short = _make_account(store, browser, "new@example.test", "short")
    assert short.status_code == 400 and b"at least 10 characters" in short.data
    made = _make_account(store, browser, "new@example.test", "a-long-new-password")
    connection = _installed(store)
    assert made.status_code == 303  # to koppel's page of the new connection, signed in
    assert made.headers["Location"] == f"/connections/{connection.id}"
    page = browser.get(made.headers["Location"]).get_data(as_text=True)
    assert 'href="http://shop.sandbox/onderhoud/AdminItems/' in page  # back to the shop
    owner = store.runtime.accounts.by_email("new@example.test")
    assert owner.role == "merchant" and connection.id in owner.connections
    # signed in: the connection's page is theirs, and nobody else's
    assert browser.get(f"/connections/{connection.id}").status_code == 200
    assert store.merchant.get(f"/connections/{connection.id}").status_code == 404
    assert connection is not None and connection.paused == LEDGER_NOT_CONNECTED
    assert before <= datetime.fromisoformat(connection.start_date) <= datetime.now(timezone.utc)
    assert connection.settings["shop"]["secret"].startswith("enc:")  # sealed
    assert store.shop.get("/__sandbox/appstore").json()["is_installed"] is True
    shop = store.runtime.connections.shop(store.runtime.connections.get(connection.id))
    mine = [h for h in shop.list_webhooks() if str(connection.id) in h["address"]]
    assert len(mine) == 4
    assert store.runtime.app.find_connection(connection.id).checks["shop"]["ok"]

    # connecting the ledger lets it book: a new order arrives by its webhook and is posted
    assert store.runtime.onboarding.connect_ledger(connection.id, LEDGER_TOKEN, "m").ok
    assert _installed(store).paused is None
    store.runtime.start_workers(2)
    order = next(d for d in generate(10, 61, failing_share=0, unpaid_share=0,
                                     scopes={"domestic"}) if d["kind"] == "order")
    order = {**order, "order": {k: v for k, v in order["order"].items() if k != "create_date"}}
    store.put_order(order, notify=True)
    store.wait_until(lambda: any(r["status"] == "posted" and
                                 r["connection_id"] == str(connection.id) for r in store.rows()))


def test_uninstalling_pauses_the_connection_and_keeps_its_history(store):
    _install(store)
    connection = _installed(store)
    store.runtime.onboarding.connect_ledger(connection.id, LEDGER_TOKEN, "m")
    events = len(store.runtime.app.history(connection.id))
    answer = store.shop.post("/__sandbox/appstore/uninstall", json=URLS).json()
    assert answer["uninstall_status"] == 200
    assert _installed(store).paused == UNINSTALLED
    assert len(store.runtime.app.history(connection.id)) == events + 1  # nothing erased
    # installed again: the same connection, running again, its settings kept
    assert _install(store).status_code == 302
    again = _installed(store)
    assert again.id == connection.id and again.paused is None


@pytest.mark.parametrize("path", ["/ccv/handshake", "/ccv/uninstall"])
def test_a_call_not_signed_with_the_app_secret_is_refused(store, path):
    body = b'{"api_public": "x", "api_secret": "y", "api_root": "https://evil.test", ' \
           b'"return_url": "https://evil.test"}'
    forged = app_hash("another-secret", f"{PUBLIC_URL}{path}", body)
    for headers in ({"x-hash": forged}, {}, {"x-hash": forged[:-1] + "é"}):
        answer = store.client.post(path, data=body, headers={**headers,
                                                             "content-type": "application/json"})
        assert answer.status_code == 403
    assert store.runtime.app_store.find("x") is None


def test_an_install_link_not_signed_by_the_app_store_is_refused(store):
    store.shop.post("/__sandbox/appstore/install", json=URLS)  # a real handshake came first
    forged = app_hash("another-secret", URLS["install_url"], "demo-public-key")
    for x_hash in (forged, forged[:-1] + "é"):  # not even a hex digit: refused all the same
        answer = store.client.get("/ccv/install", query_string={
            "api_public": "demo-public-key", "x-hash": x_hash})
        assert answer.status_code == 403
    assert _installed(store) is None


def test_a_handshake_that_lacks_the_keys_is_refused_and_records_nothing(store):
    body = b'{"api_public": "x", "api_root": "https://shop.test"}'
    signed = app_hash(APP_SECRET, f"{PUBLIC_URL}/ccv/handshake", body)
    answer = store.client.post("/ccv/handshake", data=body, headers={"x-hash": signed})
    assert answer.status_code == 400 and b"api_secret" in answer.data
    assert store.runtime.app_store.find("x") is None


def test_without_an_app_secret_the_app_store_addresses_do_not_exist(harness):
    assert harness.client.post("/ccv/handshake", data=b"{}").status_code == 404
    assert harness.client.get("/ccv/install?api_public=x&x-hash=y").status_code == 404


def test_a_signed_in_merchant_gets_the_new_shop_at_once(store):
    landed = _install(store, store.merchant)
    assert landed.status_code == 302 and landed.headers["Location"].startswith(
        "http://shop.sandbox/")
    connection = _installed(store)
    assert store.merchant.get(f"/connections/{connection.id}").status_code == 200


def test_someone_with_an_account_signs_in_to_take_the_shop(store):
    from tests.harness import MERCHANT

    browser = store.web.test_client()
    _install(store, browser)
    wrong = _make_account(store, browser, MERCHANT[0], "not-their-password")
    assert wrong.status_code == 400 and b"give its password" in wrong.data
    right = _make_account(store, browser, *MERCHANT)
    assert right.status_code == 303
    owner = store.runtime.accounts.by_email(MERCHANT[0])
    assert _installed(store).id in owner.connections


def test_the_account_form_needs_an_install_first(store):
    assert store.web.test_client().get("/ccv/account").status_code == 404


def test_a_connection_removed_in_koppel_is_not_installed_again_and_its_uninstall_is_answered(
        store):
    from application import removal

    _install(store, store.merchant)
    connection = _installed(store)
    removal.remove(store.runtime.connections, lambda conn_id: [], connection.id, by="m",
                   erase=False)
    events = len(store.runtime.app.history(connection.id))
    answer = store.shop.post("/__sandbox/appstore/uninstall", json=URLS).json()
    assert answer["uninstall_status"] == 200  # the App Store only informs: answered all the same
    for lang, said in (("en", "was removed from koppel"), ("nl", "uit koppel verwijderd")):
        store.merchant.get(f"/?lang={lang}")  # the language is remembered for the install page
        again = _install(store, store.merchant)
        assert again.status_code == 400 and said in again.get_data(as_text=True)
    assert _installed(store).removed
    assert len(store.runtime.app.history(connection.id)) == events  # nothing paused or changed


def test_the_settings_page_says_why_an_installed_connection_waits_in_the_page_language(store):
    _install(store, store.merchant)
    connection = _installed(store)
    settings = f"/connections/{connection.id}/settings"
    english = store.merchant.get(f"{settings}?lang=en").get_data(as_text=True)
    dutch = store.merchant.get(f"{settings}?lang=nl").get_data(as_text=True)
    assert 'id="paused"' in english and "(ledger not connected yet)" in english
    assert 'id="paused"' in dutch and "ledger not connected yet" not in dutch
    # the Settings page and the connection page link to each other
    assert f'href="/connections/{connection.id}" id="connection-link"' in dutch
    page = store.merchant.get(f"/connections/{connection.id}").get_data(as_text=True)
    assert f'href="{settings}" id="settings-link"' in page


def test_the_app_stores_calls_are_not_answered_with_the_merchants_error_pages(store):
    body = b"not json"
    signed = app_hash(APP_SECRET, f"{PUBLIC_URL}/ccv/handshake", body)
    answer = store.client.post("/ccv/handshake", data=body, headers={"x-hash": signed})
    assert answer.status_code == 400 and b"koppel" not in answer.data  # not koppel's page
    page = store.merchant.get("/no-such-page?lang=nl")  # a person still gets the page
    assert page.status_code == 404 and "Pagina" in page.get_data(as_text=True)
