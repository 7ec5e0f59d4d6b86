"""Connecting without a shell (issue 10): koppel registers its own webhooks at the shop, tries
a pasted ledger token before saving it, and records every real call's outcome for the two
status dots; a paused connection books nothing until it is resumed."""

from __future__ import annotations

from datetime import datetime

from click.testing import CliRunner

from tests.harness import LEDGER_TOKEN, Harness
from web.cli import main
from web.webhooks import EVENTS


def _hooks(h: Harness) -> list[tuple[str, str]]:
    shop = h.runtime.connections.shop(h.connection)
    return sorted((w["event"], w["address"]) for w in shop.list_webhooks())


def test_koppel_registers_its_own_webhooks_once(harness):
    onboarding = harness.runtime.onboarding
    assert sorted(onboarding.register_webhooks(harness.connection.id)) == sorted(EVENTS)
    expected = sorted((e, harness.runtime.webhook_address(harness.connection.id, e))
                      for e in EVENTS)
    assert _hooks(harness) == expected
    assert onboarding.register_webhooks(harness.connection.id) == []  # nothing twice
    assert _hooks(harness) == expected
    # an address of an earlier token of this connection is removed, a stranger's is kept
    shop = harness.runtime.connections.shop(harness.connection)
    stale = harness.runtime.webhook_address(harness.connection.id, "orders.created") \
        .replace("/orders.created", "x/orders.created")
    shop.register_webhook("orders.created", stale)
    shop.register_webhook("orders.created", "https://someone.else/hook")
    assert onboarding.register_webhooks(harness.connection.id) == []
    assert _hooks(harness) == sorted([*expected, ("orders.created", "https://someone.else/hook")])
    shop_dot = harness.runtime.app.find_connection(harness.connection.id).checks["shop"]
    assert shop_dot["ok"] and datetime.fromisoformat(shop_dot["at"])

    # and the shop's webhooks now reach koppel: a new order is booked without a sweep
    from sandbox.generator import generate
    order = next(d for d in generate(10, 5, failing_share=0, unpaid_share=0,
                                     scopes={"domestic"}) if d["kind"] == "order")
    harness.runtime.start_workers(2)
    harness.put_order(order, notify=True)
    harness.wait_until(lambda: harness.settled(1, ("posted",)))


def test_a_wrong_token_is_refused_in_plain_words_and_not_saved(harness):
    onboarding, conn_id = harness.runtime.onboarding, harness.connection.id
    version = harness.runtime.connections.get(conn_id).version
    refused = onboarding.connect_ledger(conn_id, "not-the-token", by="merchant")
    assert not refused.ok and refused.code == "SECURITY_001"
    assert "e-Boekhouden refused the API token" in refused.message_en
    assert "e-Boekhouden weigert dit API-token" in refused.message_nl
    assert harness.runtime.connections.get(conn_id).version == version  # not saved
    dot = harness.runtime.app.find_connection(conn_id).checks["ledger"]
    assert (dot["ok"], dot["code"]) == (False, "SECURITY_001")
    assert "not-the-token" not in str(harness.runtime.app.history(conn_id))

    accepted = onboarding.connect_ledger(conn_id, f"  {LEDGER_TOKEN} ", by="merchant")
    assert accepted.ok
    assert harness.runtime.app.find_connection(conn_id).checks["ledger"]["ok"]
    empty = onboarding.connect_ledger(conn_id, "", by="merchant")
    assert not empty.ok and empty.message_nl and empty.message_en


def test_a_new_token_is_saved_sealed_and_used(harness):
    conn_id = harness.runtime.connections.get(harness.connection.id).id
    # the merchant made a new token in e-Boekhouden: the old one and its sessions are gone
    harness.ledger.post("/__sandbox/token/renew", json={"api_token": "a-new-token"})
    harness.ledger.post("/__sandbox/sessions/expire")
    assert not harness.runtime.onboarding.check_ledger(conn_id).ok  # the old one is gone
    outcome = harness.runtime.onboarding.connect_ledger(conn_id, "a-new-token", by="m")
    assert outcome.ok
    stored = harness.runtime.app.find_connection(conn_id).settings["ledger"]["api_token"]
    assert stored.startswith("enc:") and "a-new-token" not in stored
    assert harness.runtime.onboarding.check_ledger(conn_id).ok


def test_a_paused_connection_takes_documents_in_and_books_them_once_resumed(
        harness, paid_domestic_orders):
    pausing, conn_id = harness.runtime.pausing, harness.connection.id
    assert pausing.pause(conn_id, by="merchant", reason="on holiday")
    assert not pausing.pause(conn_id, by="merchant", reason="again")
    processing = harness.runtime.processing
    shop_id = harness.put_order(paid_domestic_orders(1, seed=51)[0])["id"]
    doc_id = processing.intake(conn_id, "order", shop_id, "webhook")
    from application.processing import ConnectionPaused
    import pytest
    with pytest.raises(ConnectionPaused):
        processing.process(doc_id)
    assert harness.mutations() == [] and harness.rows()[0]["status"] == "received"
    assert pausing.resume(conn_id, by="merchant")
    assert processing.process(doc_id).status == "posted"


def test_connections_import_registers_the_webhooks_through_the_api(tmp_path, sqlite_url,
                                                                    fakes_on_ports):
    shop_server = fakes_on_ports[0]
    settings = open("web/demo_settings.toml").read().replace("{api_root}", shop_server.url)
    (tmp_path / "shop.toml").write_text(settings)
    env = {"KOPPEL_DATABASE_URL": sqlite_url, "KOPPEL_SECRET_KEY": "k", "KOPPEL_BROKER_URL": "",
           "KOPPEL_PUBLIC_URL": "https://koppel.example"}
    result = CliRunner().invoke(main, ["connections", "import", str(tmp_path / "shop.toml"),
                                 "--owner", _owner(env)], env=env)
    assert result.exit_code == 0, result.output
    assert "webhooks registered at the shop: orders.created" in result.output
    again = CliRunner().invoke(main, ["connections", "import", str(tmp_path / "shop.toml"),
                                 "--owner", _owner(env)], env=env)
    assert "all there already" in again.output
    from tests.harness import SHOP_KEYS
    from workers.connectors.ccvshop import CCVShopClient
    hooks = CCVShopClient(shop_server.url, *SHOP_KEYS).list_webhooks()
    assert sorted(h["event"] for h in hooks) == sorted(EVENTS)
    assert all(h["address"].startswith("https://koppel.example/webhooks/") for h in hooks)


def test_an_unreachable_shop_gets_the_addresses_printed(tmp_path, sqlite_url):
    settings = open("web/demo_settings.toml").read().replace("{api_root}", "http://127.0.0.1:9")
    (tmp_path / "shop.toml").write_text(settings)
    env = {"KOPPEL_DATABASE_URL": sqlite_url, "KOPPEL_SECRET_KEY": "k", "KOPPEL_BROKER_URL": "",
           "KOPPEL_HTTP_TIMEOUT": "2"}
    result = CliRunner().invoke(main, ["connections", "import", str(tmp_path / "shop.toml"),
                                 "--owner", _owner(env)], env=env)
    assert result.exit_code == 0, result.output
    assert "could not be registered" in result.output
    assert result.output.count("\n  webhook ") == len(EVENTS)


def test_a_billit_api_key_is_tried_before_it_is_saved(sqlite_url):
    from tests.harness import BILLIT_KEY

    h = Harness(sqlite_url, ledger="billit")
    try:
        onboarding, conn_id = h.runtime.onboarding, h.connection.id
        version = h.runtime.connections.get(conn_id).version
        refused = onboarding.connect_ledger(conn_id, "not-the-key", by="merchant")
        assert not refused.ok and refused.message_en and refused.message_nl
        assert refused.message_nl != refused.message_en  # said in Dutch too
        assert h.runtime.connections.get(conn_id).version == version  # not saved
        assert onboarding.connect_ledger(conn_id, BILLIT_KEY, by="merchant").ok
        assert h.runtime.app.find_connection(conn_id).checks["ledger"]["ok"]
    finally:
        h.close()


def _owner(env: dict) -> str:
    """A merchant to own the new connection (a new connection belongs to one)."""
    email = "owner@example.test"
    CliRunner().invoke(main, ["users", "add", email, "--role", "merchant", "--generate"],
                       env=env)
    return email
