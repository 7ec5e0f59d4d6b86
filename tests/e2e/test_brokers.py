"""Production mode: PostgreSQL with RabbitMQ or Redis, worker processes that really die (I1, I2).

The fakes run on real ports here, because the workers are separate processes started with
``koppel worker`` exactly as an operator would.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
import httpx
import pytest

from sandbox.serve import serve
from tests.e2e.processes import start_worker as _start_worker
from tests.e2e.processes import stop as _stop
from tests.harness import Harness

pytestmark = pytest.mark.slow


def _harness(database_url, broker_url, prefix, fakes, claim_lease=3.0) -> Harness:
    return Harness(database_url, broker_url=broker_url, prefix=prefix, claim_lease=claim_lease,
                   servers=fakes)


@pytest.mark.parametrize("phase", ["sale", "payment"])
def test_a_worker_killed_after_the_ledger_committed_leaves_one_mutation(
        phase, postgres_url, rabbitmq_url, queue_prefix, fakes_on_ports, paid_domestic_orders):
    h = _harness(postgres_url, rabbitmq_url, queue_prefix, fakes_on_ports)
    kind = {"sale": 2, "payment": 3}[phase]
    # The ledger commits, then holds its answer: the window between commit and Posted. The
    # sale is the first POST of a document, its payment the second.
    h.arm(mode="latency_after_commit", method="POST", path="/v1/mutation", seconds=30,
          count=1, skip=kind - 2)
    worker = _start_worker(h)
    try:
        shop_id = h.put_order(paid_domestic_orders(1)[0])["id"]
        assert h.send_webhook(shop_id).status_code == 202
        h.wait_until(lambda: len(h.mutations(kind)) == 1, timeout=60)
        os.killpg(worker.pid, signal.SIGKILL)  # a real kill: no cleanup, no ack
        worker.wait()
        doc_id = h.runtime.app.document_of(h.connection.id, "order", shop_id).id
        document = h.runtime.app.document(doc_id)
        in_flight = document.status if phase == "sale" else document.payment_status
        assert in_flight == "posting"  # the ledger has it; the event store does not know yet

        worker = _start_worker(h)  # the broker hands the unacknowledged message on
        h.wait_until(lambda: h.runtime.app.document(doc_id).payment_status == "posted",
                     timeout=90)
        document = h.runtime.app.document(doc_id)
        assert (document.attempt, document.payment_attempt) == (
            (2, 1) if phase == "sale" else (1, 2))
        found = [e for e in h.runtime.app.history(doc_id)
                 if type(e).__name__ in ("Posted", "PaymentPosted")]
        assert [e.found_by_lookup for e in found] == [phase == "sale", phase == "payment"]
        assert len(h.mutations(2)) == 1 and len(h.mutations(3)) == 1
    finally:
        _stop(worker)
        h.close()


def test_two_worker_processes_on_rabbitmq_post_every_order_once(
        postgres_url, rabbitmq_url, queue_prefix, fakes_on_ports, paid_domestic_orders):
    h = _harness(postgres_url, rabbitmq_url, queue_prefix, fakes_on_ports)
    worker = _start_worker(h, processes=2)
    try:
        numbers = set()
        for order in paid_domestic_orders(30, seed=5):
            created = h.put_order(order)
            numbers.add(created["ordernumber_full"])
            for _ in range(2):  # every webhook twice: the shop retries, proxies repeat
                assert h.send_webhook(created["id"]).status_code == 202
        h.wait_until(lambda: h.settled(30, ("posted",)), timeout=120)
        booked = Counter(m["invoiceNumber"] for m in h.mutations())
        assert set(booked) == numbers and max(booked.values()) == 1
    finally:
        _stop(worker)
        h.close()


def test_orders_flow_through_redis(postgres_url, redis_url, queue_prefix, paid_domestic_orders):
    h = Harness(postgres_url, broker_url=redis_url, prefix=queue_prefix)
    try:
        h.runtime.start_workers(2)
        created = [h.put_order(o) for o in paid_domestic_orders(10, seed=3)]
        for order in created:
            assert h.send_webhook(order["id"]).status_code == 202
        numbers = {order["ordernumber_full"] for order in created}
        h.wait_until(lambda: h.settled(10, ("posted",)), timeout=60)
        assert Counter(m["invoiceNumber"] for m in h.mutations()) == Counter(numbers)
    finally:
        h.close()


def test_a_webhook_accepted_while_the_broker_is_down_is_sent_again(
        sqlite_url, paid_domestic_orders):
    """The inbox keeps the promise a 202 makes; the dispatcher resends what never arrived."""
    h = Harness(sqlite_url)
    try:
        shop_id = h.put_order(paid_domestic_orders(1)[0])["id"]
        original_send = h.runtime.actors.intake.send

        def broker_down(*args, **kwargs):
            raise ConnectionError("broker unreachable")

        h.runtime.actors.intake.send = broker_down
        assert h.send_webhook(shop_id).status_code == 202
        h.runtime.publisher.drain()
        h.runtime.actors.intake.send = original_send
        assert h.runtime.inbox.count_pending() == 1
        h.runtime.start_workers(1)
        an_hour_later = datetime.now(timezone.utc) + timedelta(hours=1)
        assert h.runtime.dispatcher.resend_inbox(an_hour_later) == 1
        h.wait_until(lambda: h.settled(1, ("posted",)), timeout=30)
        assert h.runtime.inbox.count_pending() == 0
        assert len(h.mutations()) == 1
    finally:
        h.close()



def test_webhooks_on_a_threaded_server_share_one_broker_connection(postgres_url, rabbitmq_url,
                                                                  queue_prefix):
    """Each request of a threaded web server runs on a new thread; sending to RabbitMQ from
    there opened a connection per webhook until RabbitMQ stopped answering (found by the
    benchmark). Messages go out from one publisher thread."""
    h = Harness(postgres_url, broker_url=rabbitmq_url, prefix=queue_prefix)
    server = serve(h.web, keep_alive=False)
    try:
        path = h.webhook_path()

        def deliver(n: int) -> int:
            body = {"id": n, "href": f"{h.shop_url}/api/rest/v1/orders/{n}"}
            return httpx.post(server.url + path, json=body, timeout=30).status_code

        with ThreadPoolExecutor(4) as pool:
            assert set(pool.map(deliver, range(1, 41))) == {202}
        h.runtime.publisher.drain()
        assert h.runtime.inbox.count_pending() == 40  # no worker runs: all are still pending
        assert len(h.runtime.broker.connections) <= 2
    finally:
        server.stop()
        h.close()
