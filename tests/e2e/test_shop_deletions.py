"""An order the merchant deletes in the shop (``orders.deleted``): koppel never books it when
it is gone before koppel fetched it, and never touches a booking already made."""

from __future__ import annotations

import pytest

from sandbox.generator import generate
from tests.harness import Harness


@pytest.fixture
def h(sqlite_url):
    harness = Harness(sqlite_url)
    yield harness
    harness.close()


def _order(seed: int) -> dict:
    return next(i for i in generate(10, seed, failing_share=0, unpaid_share=0,
                                    scopes={"domestic"})
                if i["kind"] == "order" and i["expect"]["outcome"] == "posted")


def test_an_order_deleted_before_koppel_fetched_it_is_not_booked(h):
    shop_id = h.put_order(_order(31))["id"]
    assert h.shop.delete(f"/__sandbox/orders/{shop_id}").json()["fired"] == ["orders.deleted"]
    h.runtime.start_workers(1)
    assert h.send_webhook(shop_id).status_code == 202  # the orders.created that came late
    h.wait_until(lambda: h.runtime.inbox.count_pending() == 0, timeout=20)
    assert h.rows() == [] and h.mutations() == []


def test_a_booked_order_deleted_in_the_shop_keeps_its_booking(h):
    shop_id = h.put_order(_order(33))["id"]
    doc_id = h.runtime.processing.intake(h.connection.id, "order", shop_id, "test")
    h.runtime.processing.process(doc_id)
    assert h.runtime.app.document(doc_id).status == "posted"
    h.shop.delete(f"/__sandbox/orders/{shop_id}").raise_for_status()

    # A late event or the sweep asks again: the shop has no such order any more.
    assert h.runtime.processing.intake(h.connection.id, "order", shop_id, "sweep") is None
    h.runtime.processing.process(doc_id)
    document = h.runtime.app.document(doc_id)
    assert document.status == "posted" and document.failure is None
    assert len(h.mutations()) == 1
