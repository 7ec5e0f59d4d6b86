"""Nothing left behind in a further ledger (issue 13.3): the dispatcher sends again a follow
whose message is gone (its retries ran out while the ledger was down, or its worker was
killed) and a target payment left interrupted, and the payment check of R8.3 tries a target
payment that failed again, also after a switch. Found in the further ledgers' read model
(projections/targets.py); counted in the second administration's own records: each sale and
each payment once."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import UUID

import pytest
from click.testing import CliRunner

from application.errors import TransientError
from domain.ledger_target import Purpose
from tests.e2e.test_ledger_replay import SINCE, book, sales, second_settings
from tests.e2e.test_ledger_replay_payments import PAYMENT, payments
from tests.harness import Harness
from projections import queries
from web.cli import main
from workers.scheduler import recheck_payments

# A fault on a sale's POST alone (a payment takes the same path).
SALE = {"method": "POST", "path": "/v1/mutation", "body": '^\\{"type":"2"'}



def _later() -> datetime:
    """The dispatcher's clock, past every posting's ``stale_after``."""
    return datetime.now(timezone.utc) + timedelta(hours=1)


def _row(h: Harness, posting_id) -> dict:
    h.runtime.projector.catch_up()
    [row] = h.runtime.store.query("SELECT * FROM target_postings WHERE id = ?",
                                  [str(posting_id)])
    return row


def _copy(h: Harness):
    replays = h.runtime.replays
    target = replays.add(h.connection.id, "Accountant", second_settings(h), SINCE,
                         Purpose.COPY, by="test")
    assert replays.run(target.id).state == "finished"
    return target


def _follow_fails(h: Harness, doc_id, fault: dict, mode: str = "error") -> None:
    """The workers' follow after ``Posted`` while the target's ledger answers 503 (or, with
    ``after_commit``, commits and answers 500): its claim given back, and then (retries run
    out) its message gone."""
    h.second.post("/__sandbox/faults", json={**fault, "mode": mode, "status": 503,
                                             "count": 100}).raise_for_status()
    with pytest.raises(TransientError):
        h.runtime.replays.follow(doc_id, h.connection.id)
    h.second.delete("/__sandbox/faults").raise_for_status()


@pytest.mark.parametrize("mode", ["error", "after_commit"])
def test_a_follow_whose_message_is_gone_is_booked_by_the_dispatcher_once(
        two, paid_domestic_orders, mode):
    """``after_commit``: the target holds the sale though koppel heard a 500; the sent-again
    posting looks it up (after the settle window) and books nothing twice."""
    h = two
    orders = paid_domestic_orders(3)
    book(h, orders[:2])
    target = _copy(h)
    [doc_id] = book(h, orders[2:])  # booked by the connection after the replay finished
    _follow_fails(h, doc_id, SALE, mode)
    posting = h.runtime.replays.find_posting(target.id, doc_id)
    row = _row(h, posting.id)
    assert (row["status"], row["attempts"]) == ("debtor_resolved", 1)
    assert (posting.number in sales(h.second)) == (mode == "after_commit")

    dispatcher = h.runtime.dispatcher
    now = datetime.now(timezone.utc)
    assert dispatcher.requeue_stale_targets(now) == 0  # not stale yet: a worker may be at it
    # twice at once (two dispatcher runs before a worker takes either): booked once
    assert dispatcher.requeue_stale_targets(_later()) == 1
    assert dispatcher.run_once(_later())["further ledgers"] == 1
    h.runtime.start_workers(2)
    h.wait_until(lambda: _row(h, posting.id)["status"] == "posted")
    h.wait_until(lambda: _row(h, posting.id)["payment_status"] == "posted")
    assert sales(h.second) == sales(h.ledger) and set(sales(h.second).values()) == {1}
    assert payments(h.second) == sales(h.second) and set(payments(h.second).values()) == {1}
    assert dispatcher.requeue_stale_targets(_later()) == 0  # nothing left behind
    history = h.runtime.app.history(posting.id)
    names = [type(e).__name__ for e in history]
    assert names.count("PostingStarted") == 2 and names.count("Posted") == 1
    [posted] = [e for e in history if type(e).__name__ == "Posted"]
    assert posted.found_by_lookup == (mode == "after_commit")  # found there, not sent again


def test_a_stale_interrupted_target_payment_is_booked_by_the_dispatcher_once(
        two, paid_domestic_orders):
    h = two
    orders = paid_domestic_orders(2)
    book(h, orders[:1])
    target = _copy(h)
    [doc_id] = book(h, orders[1:])
    _follow_fails(h, doc_id, PAYMENT)
    posting = h.runtime.replays.find_posting(target.id, doc_id)
    row = _row(h, posting.id)
    assert (row["status"], row["payment_status"], row["payment_attempts"]) == (
        "posted", "interrupted", 1)
    assert posting.number in sales(h.second) and posting.number not in payments(h.second)

    dispatcher = h.runtime.dispatcher
    assert dispatcher.requeue_stale_targets(_later()) == 1
    assert dispatcher.requeue_stale_targets(_later()) == 1
    h.runtime.start_workers(2)
    h.wait_until(lambda: _row(h, posting.id)["payment_status"] == "posted")
    assert payments(h.second) == sales(h.second) == sales(h.ledger)
    assert set(payments(h.second).values()) == {1}
    assert dispatcher.requeue_stale_targets(_later()) == 0


def test_a_paused_targets_work_waits(two, paid_domestic_orders):
    h = two
    orders = paid_domestic_orders(2)
    book(h, orders[:1])
    target = _copy(h)
    [doc_id] = book(h, orders[1:])
    _follow_fails(h, doc_id, SALE)
    replays = h.runtime.replays
    replays.add(h.connection.id, "Accountant", second_settings(h), SINCE, Purpose.COPY,
                by="test")  # asked again: running
    replays.pause(target.id, by="test")
    h.runtime.projector.catch_up()
    assert h.runtime.dispatcher.requeue_stale_targets(_later()) == 0
    replays.resume(target.id, by="test")
    h.runtime.projector.catch_up()
    assert h.runtime.dispatcher.requeue_stale_targets(_later()) == 1


def test_after_a_switch_the_payment_check_books_a_target_payment_that_failed_once(
        two, paid_domestic_orders):
    """The sale is in the new ledger, its payment refused there, also by the hand-over's
    last run. After the switch the target follows nothing and the connection's own check
    skips that sale (it counts in the new ledger): the payment check of R8.3 tries the
    target's payment again and books it, once."""
    h = two
    book(h, paid_domestic_orders(1))
    h.second.post("/__sandbox/faults", json={**PAYMENT, "mode": "error", "status": 400,
                                             "count": 2}).raise_for_status()
    replays = h.runtime.replays
    target = replays.add(h.connection.id, "Second", second_settings(h), SINCE, Purpose.SWITCH,
                         by="test")
    assert replays.run(target.id).state == "finished"
    assert replays.hand_over(target.id, by="test") == []
    assert replays.get(target.id).state == "switched"
    [posting] = [p for p in (replays.find_posting(target.id, UUID(i))
                             for i in replays.get(target.id).document_ids)
                 if p.payment_status == "failed"]
    assert _row(h, posting.id)["payment_attempts"] == 2  # the run's and the hand-over's
    assert posting.number not in payments(h.second)
    # the connection's own check leaves it be: it is not the old ledger's to pay any more
    h.runtime.projector.catch_up()
    store, actors = h.runtime.store, h.runtime.actors
    assert queries.payments_to_check(store) == []

    assert recheck_payments(store, actors) == 1
    assert recheck_payments(store, actors) == 1  # twice at once: booked once
    h.runtime.start_workers(2)
    h.wait_until(lambda: _row(h, posting.id)["payment_status"] == "posted")
    assert payments(h.second) == sales(h.second) and set(payments(h.second).values()) == {1}
    assert recheck_payments(store, actors) == 0
    assert len(payments(h.ledger)) == 1  # the old ledger's own, untouched


def test_status_counts_the_target_from_the_read_model(two, paid_domestic_orders):
    h = two
    orders = paid_domestic_orders(4)
    book(h, orders[:2])
    target = _copy(h)
    [refused, waiting] = book(h, orders[2:])
    h.second.post("/__sandbox/faults", json={**PAYMENT, "mode": "error", "status": 400,
                                             "count": 1}).raise_for_status()
    h.runtime.replays.follow(refused, h.connection.id)
    _follow_fails(h, waiting, SALE)
    progress = h.runtime.replays.progress(target.id)
    assert (progress.posted, progress.failed, progress.waiting) == (3, 0, 1)
    assert (progress.paid, progress.payments_failed) == (2, 1)
    shown = CliRunner().invoke(main, ["ledgers", "status", "--connection", "Demo shop"],
                               env=h.cli_env())
    assert shown.exit_code == 0, shown.output
    assert "Accountant (copy, since 2020-01-01T00:00:00+00:00): finished, 2 of 2 replayed, " \
           "3 booked, 0 failed, 1 waiting; payments: 2 booked, 1 failed" in shown.output
    page = h.merchant.get(f"/connections/{h.connection.id}/ledgers")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "3 booked, 0 failed, 1 waiting" in text or "3 geboekt, 0 mislukt, 1 wachtend" in text


def test_a_follow_whose_worker_died_holding_the_claim_is_booked_once_the_lease_is_over(
        two, paid_domestic_orders):
    """A worker killed mid-follow: its claim (``PostingStarted``) saved, no outcome. The
    dispatcher's message waits out the lease, looks the sale up in the target (the dead
    worker's call may have arrived), finds nothing and books it, once."""
    h = two
    orders = paid_domestic_orders(2)
    book(h, orders[:1])
    target = _copy(h)
    [doc_id] = book(h, orders[1:])
    replays = h.runtime.replays
    context = replays.context(replays.get(target.id))
    document = h.runtime.app.document(doc_id)
    posting = replays._check(context, document)  # the dead worker's steps, up to its claim
    replays._resolve_debtor(posting, context, document)
    posting.start_posting("killed-worker", {"body": "never answered"}, 3.0,
                          datetime.now(timezone.utc))
    h.runtime.app.save(posting)
    assert _row(h, posting.id)["status"] == "posting"

    assert h.runtime.dispatcher.requeue_stale_targets(_later()) == 1
    h.runtime.start_workers(2)
    h.wait_until(lambda: _row(h, posting.id)["status"] == "posted", timeout=60)
    names = [type(e).__name__ for e in h.runtime.app.history(posting.id)]
    assert names.count("PostingStarted") == 2 and "LookedUp" in names
    assert sales(h.second) == sales(h.ledger) and set(sales(h.second).values()) == {1}
    assert h.runtime.dispatcher.requeue_stale_targets(_later()) == 0
