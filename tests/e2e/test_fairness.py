"""One slow ledger does not hold back another connection (workers/fairness.py, issue 12).

Two connections of one koppel book the same shop's orders, "Demo shop" into e-Boekhouden and
"Billit shop" into Billit, on PostgreSQL and RabbitMQ with two worker threads. e-Boekhouden
answers every call a second late (the fake's latency fault); the e-Boekhouden connection's
messages are in the queue first. Its connection may have one of the two threads, so the
Billit connection's orders are all booked while most of the e-Boekhouden ones still wait:
what is compared is how many are posted, not how long anything took.
"""

from __future__ import annotations

from collections import Counter

import pytest
from prometheus_client import REGISTRY

from tests.harness import BOOKS_FROM, PUBLIC_URL, Harness
from tests.harness import test_settings as settings_for

pytestmark = pytest.mark.slow

ORDERS = 6
SLOW_SECONDS = 1.0


def _deferred(connection: str) -> float:
    return REGISTRY.get_sample_value("koppel_messages_deferred_total",
                                     {"connection": connection, "reason": "busy"}) or 0.0


def test_a_slow_ledger_keeps_to_its_share_of_the_threads(
        postgres_url, rabbitmq_url, queue_prefix, paid_domestic_orders):
    h = Harness(postgres_url, broker_url=rabbitmq_url, prefix=queue_prefix)
    try:
        billit, _ = h.runtime.connections.save(
            settings_for(h.shop_url, "billit", **{'name = "Demo shop"': 'name = "Billit shop"'}),
            by="test", start_date=BOOKS_FROM)
        slow, fast = str(h.connection.id), str(billit.id)
        h.arm(mode="latency", seconds=SLOW_SECONDS, method="*", path="/v1/.*")
        deferred_before = _deferred("Demo shop")
        created = [h.put_order(order) for order in paid_domestic_orders(ORDERS, seed=9)]
        for connection_id in (slow, fast):  # the slow connection's documents come first
            for order in created:
                path = h.runtime.webhook_address(connection_id, "orders.created")
                body = {"id": order["id"],
                        "href": f"{h.shop_url}/api/rest/v1/orders/{order['id']}"}
                assert h.client.post(path[len(PUBLIC_URL):], json=body
                                     ).status_code == 202
        h.runtime.start_workers(2)
        assert h.runtime.actors.fairness.cap == 1

        def posted() -> Counter:
            return Counter(r["connection_id"] for r in h.rows() if r["status"] == "posted")

        counts = h.wait_until(lambda: posted()[fast] == ORDERS and posted(), timeout=120)
        # The e-Boekhouden connection had one thread: each of its orders takes a few calls
        # of a second each, so most of its orders are still open.
        assert counts[slow] < ORDERS / 2, counts
        assert _deferred("Demo shop") > deferred_before  # the operator sees it held back

        h.clear_faults()  # and nothing of it was lost: every order booked, each once
        h.wait_until(lambda: posted()[slow] == ORDERS, timeout=120)
        booked = Counter(m["invoiceNumber"] for m in h.mutations())
        assert set(booked) == {o["ordernumber_full"] for o in created}
        assert set(booked.values()) == {1}
        assert len(h.billit.get("/__sandbox/orders").json()) == ORDERS
    finally:
        h.close()
