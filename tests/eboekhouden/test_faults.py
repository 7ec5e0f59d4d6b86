"""Failures a real ledger shows, and what the client makes of them (I1, I2)."""

from __future__ import annotations

import socket
import time
from decimal import Decimal

import pytest

from application.errors import SlowDown, TransientError
from workers.connectors.eboekhouden import EBoekhoudenClient

from .conftest import API_TOKEN, payment, sale


def test_commit_then_500_is_an_unknown_outcome_that_find_mutation_resolves(fake, client):
    relation = fake.relation()
    client.ledger_id("1300")
    fake.fault(mode="after_commit", method="POST", path="/v1/mutation", count=1)

    with pytest.raises(TransientError) as caught:
        client.create_mutation(sale("WS2025-00042", relation["id"]))

    assert caught.value.outcome_unknown is True
    assert caught.value.detail["status"] == 500 and caught.value.detail["code"] == "ERR_001"
    found = client.find_mutation("WS2025-00042")  # I1: look it up before any retry
    assert found is not None and found["id"] == fake.get("mutations")[0]["id"]


def test_a_fault_can_match_the_body_to_fail_the_payment_and_not_the_sale(fake, client):
    """A sale and a payment share POST /v1/mutation; the chaos suite fails payments only."""
    relation = fake.relation()
    fake.fault(mode="error", method="POST", path="/v1/mutation", body=r'"type":\s*"?3\b',
               count=1)

    client.create_mutation(sale("WS7", relation["id"]))  # the sale passes the armed fault
    with pytest.raises(TransientError):
        client.create_mutation(payment("WS7", relation["id"], Decimal("55.00")))

    assert [m["type"] for m in fake.get("mutations")] == [2]
    assert [f["fired"] for f in fake.get("faults")] == [1]


def test_500_before_the_write_is_unknown_too_but_nothing_is_there(fake, client):
    relation = fake.relation()
    fake.fault(mode="error", method="POST", path="/v1/mutation", count=1, status=503)

    with pytest.raises(TransientError) as caught:
        client.create_mutation(sale("WS1", relation["id"]))

    assert caught.value.outcome_unknown is True  # the client cannot tell the two 5xx apart
    assert client.find_mutation("WS1") is None
    client.create_mutation(sale("WS1", relation["id"]))  # the retry books it once
    assert len(fake.get("mutations")) == 1


def test_5xx_on_a_read_is_transient_with_a_known_outcome(fake, client):
    fake.fault(mode="error", method="GET", path="/v1/relation", count=1)
    with pytest.raises(TransientError) as caught:
        client.find_relation_by_email("jan@example.nl")
    assert caught.value.outcome_unknown is False


def test_429_carries_retry_after(fake, client):
    fake.fault(mode="rate_limit", method="POST", path="/v1/relation", count=1, seconds=7)
    with pytest.raises(SlowDown) as caught:  # the whole connection waits (fairness)
        client.create_relation({"name": "Jan"})
    assert caught.value.retry_after == 7.0
    assert caught.value.outcome_unknown is False  # 429: the server did not do it
    assert fake.get("relations") == []


def test_dropped_connection_is_transient(served):
    relation = served.relation()
    client = served.client(timeout=5)
    client.ledger_id("1300"), client.ledger_id("8000"), client.ledger_id("8001")
    served.fault(mode="drop", method="GET", path="/v1/relation", count=1)
    served.fault(mode="drop", method="POST", path="/v1/mutation", count=1)

    with pytest.raises(TransientError) as read:
        client.find_relation_by_email("jan@example.nl")
    with pytest.raises(TransientError) as write:
        client.create_mutation(sale("WS7", relation["id"]))

    assert read.value.outcome_unknown is False
    assert write.value.outcome_unknown is True
    assert write.value.code == "NO_ANSWER"
    assert client.find_relation_by_email("jan@example.nl") is None  # the next call works
    client.close()


def test_dropped_connection_in_process_is_transient(fake, client):
    relation = fake.relation()
    client.ledger_id("1300"), client.ledger_id("8000"), client.ledger_id("8001")
    fake.fault(mode="drop", method="POST", path="/v1/mutation", count=1)
    with pytest.raises(TransientError) as caught:
        client.create_mutation(sale("WS7", relation["id"]))
    assert caught.value.outcome_unknown is True
    assert client.find_mutation("WS7") is None  # a drop happens before the write


def test_timeout_after_commit_is_an_unknown_outcome(served):
    relation = served.relation()
    client = served.client(timeout=0.5)
    client.ledger_id("1300"), client.ledger_id("8000"), client.ledger_id("8001")
    served.fault(mode="latency_after_commit", method="POST", path="/v1/mutation", count=1,
                 seconds=1.5)

    with pytest.raises(TransientError) as caught:
        client.create_mutation(sale("WS8", relation["id"]))

    assert caught.value.outcome_unknown is True
    assert client.find_mutation("WS8") is not None  # committed while the client gave up
    client.close()


def test_nobody_listening_is_transient_with_a_known_outcome():
    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = EBoekhoudenClient(f"http://127.0.0.1:{port}", API_TOKEN, timeout=2)
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        client.create_mutation({"type": 2, "ledgerId": 1, "rows": []})
    assert caught.value.outcome_unknown is False and caught.value.code == "CONNECT"
    assert time.monotonic() - started < 2
    assert API_TOKEN not in repr(caught.value.detail)


def test_real_port_round_trip(served):
    """The whole path over real sockets: session, relation, sale, payment, open item."""
    client = served.client()
    relation = client.create_relation({"name": "Jan Jansen", "type": "P",
                                       "emailAddress": "jan@example.nl"})
    client.create_mutation(sale("WS2025-00100", relation["id"]))
    assert client.find_relation_by_email("JAN@example.nl")["id"] == relation["id"]
    assert client.find_outstanding("WS2025-00100")["outstandingAmount"] == Decimal("64.75")
    client.close()


@pytest.mark.parametrize("commit_after", [1.5, 3.0])
def test_late_commit_lands_after_the_client_gave_up(served, commit_after):
    """A ledger that keeps working after its caller gave up (issue 7): the client times out
    at 0.5 s; the write lands at 1.5 s (before the answer at 2.5 s) or at 3 s (after it)."""
    relation = served.relation()
    client = served.client(timeout=0.5)
    client.ledger_id("1300"), client.ledger_id("8000"), client.ledger_id("8001")
    served.fault(mode="late_commit", method="POST", path="/v1/mutation", count=1,
                 answer_after=2.5, commit_after=commit_after)

    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        client.create_mutation(sale("WS8", relation["id"]))
    assert caught.value.outcome_unknown is True and time.monotonic() - started < 1.2
    assert client.find_mutation("WS8") is None  # still on its way inside the ledger

    time.sleep(started + commit_after + 0.5 - time.monotonic())
    assert [m["invoiceNumber"] for m in served.get("mutations")] == ["WS8"]  # it landed
    time.sleep(max(0.0, started + 3.0 - time.monotonic()))
    # The answer went out at answer_after: the write's own 201, or 500 when it came later.
    assert [r["status"] for r in served.requests("POST", "/v1/mutation")] == [
        201 if commit_after < 2.5 else 500]
    client.close()
