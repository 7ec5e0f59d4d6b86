"""A worker process keeps each connection's settings and connectors between messages, and keeps
its HTTP connections alive; none of that may outlive a change made anywhere else.

"Another process" is a second runtime on the same database, with caches of its own: what a
settings page, ``koppel connections import`` or another worker process is to this one.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from application.processing import ConnectionPaused
from bench.tcp_proxy import TcpProxy
from tests.harness import Harness
from tests.harness import test_settings as settings_with
from web.bootstrap import bootstrap


def _another_process(h: Harness):
    return bootstrap(h.config, environ={}, transport_for=lambda url: None)


def _book(h: Harness, document: dict):
    """Take one order in and process it, as the two actors do one after the other."""
    shop_id = int(h.put_order(document)["id"])
    doc_id = h.runtime.processing.intake(h.connection.id, "order", shop_id, "test")
    return doc_id, h.process(doc_id)


def test_a_settings_change_in_another_process_takes_effect_on_the_next_message(
        database_url, paid_domestic_orders):
    first, second = paid_domestic_orders(2)
    h = Harness(database_url)
    other = _another_process(h)
    try:
        _, outcome = _book(h, first)  # this process now knows the connection and its ledger
        assert outcome.status == "posted"
        before = h.runtime.connections.get(h.connection.id).version
        assert [m["invoiceNumber"] for m in h.mutations()] == [outcome.number]

        changed, recorded = other.connections.save(
            settings_with(h.shop_url, **{'number_prefix = ""': 'number_prefix = "W-"'}),
            by="another process")
        assert recorded and changed.version > before

        doc_id, outcome = _book(h, second)
        assert outcome.status == "posted"
        assert h.mutations()[-1]["invoiceNumber"] == f"W-{outcome.number}"  # R2.1's prefix
        assert h.runtime.app.document(doc_id).settings_version == changed.version
        assert h.runtime.connections.get(h.connection.id).version == changed.version
    finally:
        other.stop()
        h.close()


def test_a_connection_paused_in_another_process_posts_nothing_until_resumed(
        database_url, paid_domestic_orders):
    first, second = paid_domestic_orders(2)
    h = Harness(database_url)
    other = _another_process(h)
    try:
        _, outcome = _book(h, first)
        assert outcome.status == "posted"
        assert other.connections.changed(
            h.connection.id, lambda c: c.pause(by="merchant", reason="holiday"))

        shop_id = int(h.put_order(second)["id"])
        doc_id = h.runtime.processing.intake(h.connection.id, "order", shop_id, "webhook")
        for _ in range(2):  # the cached connection is never used to post while paused
            with pytest.raises(ConnectionPaused):
                h.runtime.processing.process(doc_id)
        assert len(h.mutations()) == 1 and len(h.mutations(kind=3)) == 1
        assert h.runtime.app.document(doc_id).status not in ("posted", "posting")

        assert other.connections.changed(h.connection.id, lambda c: c.resume(by="merchant"))
        assert h.process(doc_id).status == "posted"
        assert len(h.mutations()) == 2
    finally:
        other.stop()
        h.close()


def test_one_kept_alive_http_connection_per_host_across_settings_versions(
        database_url, fakes_on_ports, paid_domestic_orders):
    """Every call of a worker over one TCP connection per host, also after the settings
    changed (a new connector for the new version uses the process's pool); closed when the
    runtime stops."""
    documents = paid_domestic_orders(4)
    shop, ledger = fakes_on_ports
    with TcpProxy(("127.0.0.1", shop.port)) as shop_proxy, \
            TcpProxy(("127.0.0.1", ledger.port)) as ledger_proxy:
        servers = (SimpleNamespace(url=f"http://127.0.0.1:{shop_proxy.port}"),
                   SimpleNamespace(url=f"http://127.0.0.1:{ledger_proxy.port}"))
        h = Harness(database_url, servers=servers)
        try:
            shop_ids = [int(h.put_order(d)["id"]) for d in documents]
            shop_before = shop_proxy.connections_made  # the test's own client to the shop
            ledger_before = ledger_proxy.connections_made
            for index, shop_id in enumerate(shop_ids):
                if index == 2:
                    h.change_settings(**{'number_prefix = ""': 'number_prefix = "K-"'})
                doc_id = h.runtime.processing.intake(h.connection.id, "order", shop_id, "t")
                assert h.process(doc_id).status == "posted"
            shop_made = shop_proxy.connections_made - shop_before
            ledger_made = ledger_proxy.connections_made - ledger_before
            assert [m["invoiceNumber"][:2] for m in h.mutations()][2:] == ["K-", "K-"]
            assert (shop_made, ledger_made) == (1, 1)
        finally:
            h.close()
        # stopped: the keep-alive connections are closed, none is left open
        assert h.runtime.connections.connectors.pools.closed
        h.wait_until(lambda: shop_proxy.open_connections() == 0 and
                     ledger_proxy.open_connections() == 0, timeout=10)
