"""The monthly reconciliation (issue 13.1) through a real SMTP server (aiosmtpd): a month with a
booking deleted in the ledger is reconciled once, a few days after it ended, and mailed to
those who get koppel's problem mails about that connection; nothing runs twice."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from application.reconciliation import Reconciliations
from projections.reconciliation import BookedDocuments
from tests.e2e.orders import post_orders
from tests.harness import PUBLIC_URL, Harness
from tests.mailbox import smtp  # noqa: F401  (a fixture)
from web.mail import Mail
from workers.reconcile_schedule import MonthlyReconciliation

MERCHANT = "merchant@example.test"
OTHER = "other-merchant@example.test"


@pytest.fixture
def h(sqlite_url, smtp):  # noqa: F811
    controller, _ = smtp
    harness = Harness(sqlite_url, config={
        "mail": Mail(host="127.0.0.1", port=controller.port, security="none")})
    yield harness
    harness.close()


def _monthly(h, today: date) -> MonthlyReconciliation:
    h.runtime.projector.catch_up()
    return MonthlyReconciliation(
        h.runtime.store, Reconciliations(h.runtime.connections,
                                         BookedDocuments(h.runtime.store)),
        h.runtime.notifier, PUBLIC_URL,
        clock=lambda: datetime.combine(today, datetime.min.time(), tzinfo=timezone.utc))


def _next_month(day: date, on: int) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=on)


def test_a_month_with_a_deleted_booking_is_mailed_once(h, smtp):  # noqa: F811
    _, box = smtp
    h.runtime.accounts.add(OTHER, "merchant", "a-long-password-2", by="test", connections=[])
    post_orders(h, 8)
    mutations = sorted(h.mutations(), key=lambda m: m["date"])
    gone = mutations[0]
    day = date.fromisoformat(gone["date"][:10])
    assert h.ledger.delete(f"/__sandbox/mutations/{gone['id']}").status_code == 200

    assert _monthly(h, _next_month(day, 2)).run_once() == {"waiting": True}  # too early
    assert box.messages == []
    done = _monthly(h, _next_month(day, 3)).run_once()
    assert done == {"reconciled": 1, "differing": 1, "mailed": 1, "failed": 0}
    [mail] = box.to(MERCHANT)
    body = mail.get_content()
    assert gone["invoiceNumber"] in body and day.isoformat()[:7] in mail["Subject"]
    assert "ontbreekt in de boekhouding (verwijderd)" in body
    assert "missing in the ledger (deleted)" in body
    assert (f"{PUBLIC_URL}/connections/{h.connection.id}/reconcile?from="
            f"{day.replace(day=1)}") in body
    assert box.to(OTHER) == []  # not their connection

    assert _monthly(h, _next_month(day, 20)).run_once() == {
        "reconciled": 0, "differing": 0, "mailed": 0, "failed": 0}  # the month is done
    assert len(box.messages) == 1


def test_the_scheduler_reconciles_monthly_only_when_mail_is_set_up(h, sqlite_url):
    assert "reconcile" in [job.name for job in h.runtime.scheduler().jobs]
    without = Harness(sqlite_url.replace("koppel.sqlite", "other.sqlite"))
    try:
        assert "reconcile" not in [job.name for job in without.runtime.scheduler().jobs]
    finally:
        without.close()
