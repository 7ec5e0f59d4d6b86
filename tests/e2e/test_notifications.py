"""E-mail notices through a real SMTP server (aiosmtpd on a free port): the daily digest of new
Errors and, at once, a connection that needs reconnecting; each person gets what they chose,
about the connections they may see, and nothing twice."""

from __future__ import annotations

from datetime import timedelta

import pytest

from application.processing import WaitingForReconnect
from tests.e2e.test_process_again import _in_errors
from tests.harness import BOOKS_FROM, PUBLIC_URL, Harness, csrf_token
from tests.harness import test_settings as settings_with
from tests.mailbox import smtp  # noqa: F401  (a fixture)
from web.mail import Mail
from workers.notifications import Notifier, latest_digest_time

MERCHANT = "merchant@example.test"
ACCOUNTANT = "accountant@example.test"
OTHER = "other-merchant@example.test"


@pytest.fixture
def h(database_url, smtp):  # noqa: F811
    controller, _ = smtp
    harness = Harness(database_url, config={
        "mail": Mail(host="127.0.0.1", port=controller.port, security="none")})
    other, _ = harness.runtime.connections.save(settings_with(
        harness.shop_url, **{'name = "Demo shop"': 'name = "Other shop"'}), by="test",
        start_date=BOOKS_FROM)
    accounts = harness.runtime.accounts
    accounts.add(ACCOUNTANT, "accountant", "a-long-password-1", by="test",
                 connections=[harness.connection.id])
    accounts.add(OTHER, "merchant", "a-long-password-2", by="test", connections=[other.id])
    yield harness
    harness.close()


def _notifier(h) -> Notifier:
    h.runtime.projector.catch_up()
    return h.runtime.notifier


def test_the_digest_lists_new_errors_once_to_those_who_want_it(h, smtp):  # noqa: F811
    _, box = smtp
    [(_, first), (_, second)] = _in_errors(h, 2)
    accountant = h.runtime.accounts.by_email(ACCOUNTANT)
    h.runtime.accounts.choose_notifications(accountant.id, digest=True, reconnect=False,
                                            by=ACCOUNTANT)
    assert _notifier(h).send_digests() == 2  # the merchant (by default) and the accountant
    [mail] = box.to(MERCHANT)
    body = mail.get_content()
    for doc_id in (first, second):
        assert h.runtime.app.document(doc_id).number in body
        assert f"{PUBLIC_URL}/documents/{doc_id}" in body
    assert "ICP_VAT_NUMBER_INVALID" in body and f"{PUBLIC_URL}/errors" in body
    assert len(box.to(ACCOUNTANT)) == 1 and box.to(OTHER) == []  # not their connection

    assert _notifier(h).send_digests() == 0  # nothing new: no mail
    third = _one_more_error(h)
    assert _notifier(h).send_digests() == 2
    latest = box.to(MERCHANT)[-1].get_content()
    assert h.runtime.app.document(third).number in latest
    assert h.runtime.app.document(first).number not in latest


def test_the_digest_comes_at_the_merchants_hour_once_a_day(h, smtp):  # noqa: F811
    """The scheduler looks every few minutes; a person gets the digest once the hour has come
    (Dutch time), not again that day, and the next morning with what is new."""
    _, box = smtp
    _in_errors(h, 1)
    notifier = _notifier(h)
    at_seven = latest_digest_time(notifier.clock(), 7)
    assert notifier.send_due_digests(7) == 1  # never had one: the first comes at once
    assert notifier.send_due_digests(7) == 0
    third = _one_more_error(h)
    h.runtime.projector.catch_up()
    assert notifier.send_due_digests(7) == 0  # had today's: the new error waits
    notifier.clock = lambda: at_seven + timedelta(days=1, minutes=-1)  # 06:59 next morning
    assert notifier.send_due_digests(7) == 0
    notifier.clock = lambda: at_seven + timedelta(days=1, minutes=3)
    assert notifier.send_due_digests(7) == 1
    assert h.runtime.app.document(third).number in box.to(MERCHANT)[-1].get_content()
    assert notifier.send_due_digests(7) == 0  # once a day


def _one_more_error(h):
    from sandbox.generator import generate

    item = next(i for i in generate(400, 31, failing_share=1.0, unpaid_share=0)
                if i["expect"]["check"] == "CUSTOMER_NAME_MISSING" and i["kind"] == "order")
    shop_id = h.put_order(item)["id"]
    doc_id = h.runtime.processing.intake(h.connection.id, "order", shop_id, "test")
    h.runtime.processing.process(doc_id)
    assert h.runtime.app.document(doc_id).status == "failed"
    return doc_id


def _ledger_refuses_the_token(h, order: dict):
    """The e-Boekhouden token passed its end date while an order waits to be posted."""
    h.ledger.post("/__sandbox/token/expire").raise_for_status()
    h.ledger.post("/__sandbox/sessions/expire").raise_for_status()
    shop_id = h.put_order(order)["id"]
    doc_id = h.runtime.processing.intake(h.connection.id, "order", shop_id, "test")
    with pytest.raises(WaitingForReconnect):
        h.runtime.processing.process(doc_id)
    return doc_id


def test_a_refused_token_is_told_at_once_and_once(h, smtp, paid_domestic_orders):  # noqa: F811
    _, box = smtp
    doc_id = _ledger_refuses_the_token(h, paid_domestic_orders(1)[0])

    assert _notifier(h).send_reconnects() == 1  # the merchant; the accountant did not choose
    [mail] = box.to(MERCHANT)
    assert "Demo shop" in mail["Subject"] and f"{PUBLIC_URL}/" in mail.get_content()
    assert "expired" in mail.get_content()
    assert box.to(ACCOUNTANT) == [] and box.to(OTHER) == []
    assert _notifier(h).send_reconnects() == 0  # told once

    h.ledger.post("/__sandbox/token/renew").raise_for_status()
    h.runtime.processing.process(doc_id)  # works again: reconnected
    assert _notifier(h).send_reconnects() == 0


def test_a_person_chooses_on_their_page(h, smtp, paid_domestic_orders):  # noqa: F811
    _, box = smtp
    page = h.merchant.get("/account/notifications").get_data(as_text=True)
    assert 'id="notice-digest" checked' in page.replace('"\n', '" ')
    answer = h.merchant.post("/account/notifications", data={
        "digest": "on", "csrf_token": csrf_token(page)})
    assert answer.status_code == 303
    page = h.merchant.get("/account/notifications").get_data(as_text=True)
    assert 'name="reconnect" id="notice-reconnect">' in page  # now unticked
    _ledger_refuses_the_token(h, paid_domestic_orders(1)[0])
    assert _notifier(h).send_reconnects() == 0 and box.to(MERCHANT) == []


def test_a_mail_the_server_refused_is_sent_on_the_next_round(h, smtp):  # noqa: F811
    _, box = smtp
    _in_errors(h, 1)
    notifier = _notifier(h)
    working = notifier.send

    def refused(*args):
        raise OSError("connection refused")
    notifier.send = refused
    assert notifier.send_digests() == 0
    notifier.send = working
    assert notifier.send_digests() == 1 and len(box.to(MERCHANT)) == 1


def test_the_scheduler_sends_notices_only_when_mail_is_set_up(h, sqlite_url):
    names = [job.name for job in h.runtime.scheduler().jobs]
    assert {"reconnect notices", "digest"} <= set(names)
    without = Harness(sqlite_url.replace("koppel.sqlite", "other.sqlite"))
    try:
        assert "digest" not in [job.name for job in without.runtime.scheduler().jobs]
    finally:
        without.close()
