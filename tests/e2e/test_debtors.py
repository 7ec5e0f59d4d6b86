"""R6.2-R6.4 under concurrency: one relation per customer (e-mail) per connection, however many
of the customer's documents reach the debtor step at once, on however many workers.

Relations are counted in the sandbox e-Boekhouden's own records, never in koppel's.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import Counter

import pytest

from application.errors import TransientError
from domain.debtor import relation_key
from domain.relation import Relation
from tests.harness import Harness


def _same_customer(orders: list[dict], email: str) -> list[dict]:
    """The orders as if one customer placed them all (the e-mail in varying case)."""
    customer = copy.deepcopy(orders[0]["order"]["customer"])
    out = []
    for i, order in enumerate(orders):
        order = copy.deepcopy(order)
        spelled = email.upper() if i % 2 else email
        order["order"]["customer"] = {**customer, "email": spelled}
        out.append(order)
    return out


def _relations_with(harness, email: str) -> list[dict]:
    return [r for r in harness.ledger.get("/__sandbox/relations").json()
            if str(r.get("emailAddress") or "").casefold() == email.casefold()]


def _process_all_at_once(harness, doc_ids) -> list[BaseException]:
    """Every document on its own thread, released together; transient waits are retried as
    the worker would."""
    start = threading.Barrier(len(doc_ids))
    errors = []

    def work(doc_id):
        start.wait()
        for _ in range(40):
            try:
                harness.runtime.processing.process(doc_id)
                return
            except TransientError:
                continue
            except BaseException as error:  # noqa: BLE001 - reported by the test
                errors.append(error)
                return

    threads = [threading.Thread(target=work, args=(d,)) for d in doc_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return errors


def test_one_customers_documents_at_once_make_one_relation(harness, paid_domestic_orders):
    email = "klaartje.pietersen@example.nl"
    orders = _same_customer(paid_domestic_orders(6, seed=11), email)
    doc_ids = [harness.runtime.processing.intake(harness.connection.id, "order",
                                                 harness.put_order(o)["id"], "test")
               for o in orders]
    # The ledger is slow to create a relation, so every worker is inside the debtor step
    # together; one document is also on two workers at once.
    harness.arm(mode="latency", method="POST", path="/v1/relation", seconds=0.4, count=10)
    errors = _process_all_at_once(harness, doc_ids + doc_ids[:1])
    assert errors == []

    relations = _relations_with(harness, email)
    assert len(relations) == 1, [r["code"] for r in relations]
    documents = [harness.runtime.app.document(d) for d in doc_ids]
    assert {d.status for d in documents} == {"posted"}
    assert {d.relation["id"] for d in documents} == {relations[0]["id"]}
    booked_on = Counter(m["relationId"] for m in harness.mutations())
    assert booked_on == {relations[0]["id"]: len(orders)}


def test_one_document_of_a_customer_without_email_on_three_workers_makes_one_relation(
        harness, paid_domestic_orders):
    """R6.3: no e-mail, no match: every document gets its own relation, but only one."""
    orders = _same_customer(paid_domestic_orders(2, seed=12), "")
    doc_ids = [harness.runtime.processing.intake(harness.connection.id, "order",
                                                 harness.put_order(o)["id"], "test")
               for o in orders]
    harness.arm(mode="latency", method="POST", path="/v1/relation", seconds=0.4, count=10)
    errors = _process_all_at_once(harness, [doc_ids[0]] * 3 + [doc_ids[1]] * 2)
    assert errors == []

    relations = [r for r in harness.ledger.get("/__sandbox/relations").json()
                 if not r.get("emailAddress")]
    documents = [harness.runtime.app.document(d) for d in doc_ids]
    assert {d.status for d in documents} == {"posted"}
    assert sorted(r["id"] for r in relations) == sorted(d.relation["id"] for d in documents)
    assert len(relations) == 2


@pytest.mark.parametrize("email", ["jan.jansen@example.nl", ""])
def test_a_500_after_the_ledger_created_the_relation_is_found_not_created_again(
        email, database_url, paid_domestic_orders):
    """The outcome is unknown: the claim stays until its lease ends, then the next attempt
    looks the relation up (by e-mail, or by the code recorded in the claim) first."""
    h = Harness(database_url, claim_lease=2.0)
    try:
        order = _same_customer(paid_domestic_orders(1, seed=14), email)[0]
        doc_id = h.runtime.processing.intake(h.connection.id, "order", h.put_order(order)["id"],
                                             "test")
        h.arm(mode="after_commit", method="POST", path="/v1/relation", count=1)
        with pytest.raises(TransientError):
            h.runtime.processing.process(doc_id)
        started = time.monotonic()
        assert h.runtime.processing.process(doc_id).status == "posted"
        waited = time.monotonic() - started
        relations = h.ledger.get("/__sandbox/relations").json()
        assert len(relations) == 1
        assert h.runtime.app.document(doc_id).relation["id"] == relations[0]["id"]
        if not email:  # only the claim's record can find it: after the lease, by its code
            assert waited > 1.0
            claim = h.runtime.app.find_relation(Relation.create_id(
                h.connection.id, relation_key(email, doc_id)))
            assert claim.relation["id"] == relations[0]["id"]
    finally:
        h.close()


@pytest.mark.slow
@pytest.mark.parametrize("email", ["jan.jansen@example.nl", ""])
def test_a_worker_killed_between_creating_the_relation_and_recording_it(
        email, postgres_url, rabbitmq_url, queue_prefix, fakes_on_ports, paid_domestic_orders):
    """The ledger commits the relation and holds its answer; the worker is SIGKILLed there.
    The next worker (after the claim's lease) finds that relation instead of making another."""
    import os
    import signal

    from tests.e2e.processes import start_worker as _start_worker
    from tests.e2e.processes import stop as _stop
    from tests.e2e.test_brokers import _harness

    h = _harness(postgres_url, rabbitmq_url, queue_prefix, fakes_on_ports)
    h.arm(mode="latency_after_commit", method="POST", path="/v1/relation", seconds=30, count=1)
    worker = _start_worker(h)
    try:
        order = _same_customer(paid_domestic_orders(1, seed=13), email)[0]
        shop_id = h.put_order(order)["id"]
        assert h.send_webhook(shop_id).status_code == 202
        h.wait_until(lambda: len(h.ledger.get("/__sandbox/relations").json()) == 1, timeout=60)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        doc_id = h.runtime.app.document_of(h.connection.id, "order", shop_id).id
        assert h.runtime.app.document(doc_id).relation is None  # nothing recorded yet

        worker = _start_worker(h)
        h.wait_until(lambda: h.runtime.app.document(doc_id).status == "posted", timeout=90)
        relations = h.ledger.get("/__sandbox/relations").json()
        assert len(relations) == 1
        assert h.runtime.app.document(doc_id).relation["id"] == relations[0]["id"]
        assert [m["relationId"] for m in h.mutations()] == [relations[0]["id"]]
    finally:
        _stop(worker)
        h.close()


def test_a_document_waits_while_another_worker_holds_the_customers_claim(
        harness, paid_domestic_orders):
    """The holder is alive (its lease runs): nothing is created, the worker is given back
    with the wait until the lease ends."""
    from datetime import datetime, timezone

    from application.debtors import RelationBeingCreated

    email = "piet@example.nl"
    order = _same_customer(paid_domestic_orders(1, seed=15), email)[0]
    doc_id = harness.runtime.processing.intake(harness.connection.id, "order",
                                               harness.put_order(order)["id"], "test")
    claim = Relation.open(harness.connection.id, relation_key(email, doc_id))
    claim.take("another worker", 60, datetime.now(timezone.utc), "PietPieter")
    harness.runtime.app.save(claim)
    harness.runtime.processing.debtors.wait = 0.3

    with pytest.raises(RelationBeingCreated) as waiting:
        harness.runtime.processing.process(doc_id)
    assert 55 < waiting.value.retry_after <= 60
    assert "wordt door een andere worker aangemaakt" in waiting.value.message_nl
    assert _relations_with(harness, email) == []
    assert harness.runtime.app.document(doc_id).status == "checked"  # the check is kept
