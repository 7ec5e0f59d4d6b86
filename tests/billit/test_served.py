"""The fake on a real port (werkzeug's threaded server): connect, post, refresh under load,
and the failures that only a real socket shows."""

from __future__ import annotations

import threading

import pytest

from application.errors import DuplicateError, TransientError
from workers.connectors.billit import MemoryTokenStore

from .conftest import billit_settings, bundles, order_for


def test_connect_and_post_orders_from_many_threads_with_one_refresh(served):
    store = MemoryTokenStore()
    client = served.connect(store)
    settings = billit_settings()
    requests = [order_for(b, settings, f"port:order:{i}")[0]
                for i, b in enumerate(bundles("order", 6, seed=3))]
    served.post("tokens/expire")  # every thread will meet a stale token at once
    errors, barrier = [], threading.Barrier(len(requests))

    def post(request):
        try:
            barrier.wait()
            client.create_order(request["body"], request["headers"]["Idempotency-Key"])
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(r,)) for r in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(served.get("orders")) == len(requests)
    refreshes = [r for r in served.requests("POST", "/OAuth2/token")
                 if r["grant"] == "refresh_token"]
    assert [r["status"] for r in refreshes] == [200]


def test_after_commit_on_a_real_socket_then_lookup_and_duplicate(served):
    client = served.client()
    request, _ = order_for(bundles("order")[0], billit_settings(), "port:order:x")
    served.fault(mode="after_commit", method="POST", path="/v1/orders", count=1)
    with pytest.raises(TransientError) as caught:
        client.create_order(request["body"], "port:order:x")
    assert caught.value.outcome_unknown
    assert client.find_order("port:order:x")["id"] == served.get("orders")[0]["OrderID"]
    with pytest.raises(DuplicateError):
        client.create_order(request["body"], "port:order:x")


def test_dropped_connection_and_timeout_on_a_real_socket(served):
    request, _ = order_for(bundles("order")[0], billit_settings(), "port:order:y")
    served.fault(mode="drop", method="POST", path="/v1/orders", count=1)
    with served.client() as client, pytest.raises(TransientError) as caught:
        client.create_order(request["body"], "port:order:y")
    assert caught.value.outcome_unknown and caught.value.code == "NO_ANSWER"

    served.fault(mode="latency_after_commit", method="POST", path="/v1/orders", count=1,
                 seconds=1.0)
    with served.client(timeout=0.3) as client, pytest.raises(TransientError) as caught:
        client.create_order(request["body"], "port:order:z")
    assert caught.value.outcome_unknown
    with served.client() as client:  # committed although the client gave up waiting
        assert client.find_order("port:order:y") is not None
