"""Issue 13.2: a settings draft over history, its dry run, and applying it, through the
sandbox. The draft moves the 21% revenue to another account (R4.8 maps a rate to its
revenue account), which changes the product lines of every domestic order."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal

import pytest

from application.errors import TransientError
from application.processing import ClaimHeld
from domain.booking import Booking, build_booking
from domain.correction import Correction
from tests.harness import test_settings as settings_with

PERIOD = (date(2020, 1, 1), date(2030, 12, 31))
MOVED = {"revenue_account = \"8000\"": "revenue_account = \"8005\""}


def _draft(h):
    return settings_with(h.shop_url, **MOVED)


def _add_account(h) -> None:
    """The draft's new account 8005: the accountant adds it in e-Boekhouden first."""
    h.ledger.post("/__sandbox/ledgers", json={"code": "8005", "description": "Omzet webshop",
                                              "category": "VW"}).raise_for_status()


def _post_one(h, order):
    shop_id = h.put_order(order)["id"]
    doc_id = h.runtime.processing.intake(h.connection.id, "order", shop_id, "test")
    assert h.process(doc_id).status == "posted"
    return doc_id


def _posted(h, orders) -> list:
    _add_account(h)
    return [_post_one(h, order) for order in orders]


def _ledger_requests(h) -> list:
    return h.ledger.get("/__sandbox/requests").json()


def _run(h, correction_id, attempts: int = 6):
    """A correction runner as a worker's retries drive it."""
    for _ in range(attempts):
        try:
            return h.runtime.corrections.run(correction_id)
        except ClaimHeld as held:
            time.sleep(held.retry_after + 0.05)
        except TransientError:
            continue
    raise AssertionError("the correction did not finish")


def _expected_move(bookings: list[Booking]) -> Decimal:
    """What the draft moves: the amounts excl. VAT of the lines booked on 8000."""
    return sum((line.amount_excl for b in bookings for line in b.lines if line.account == "8000"),
               Decimal(0))


def test_a_dry_run_shows_every_change_and_sends_nothing(harness, paid_domestic_orders):
    h = harness
    orders = paid_domestic_orders(4)
    posted = _posted(h, orders[:3])
    shop_id = h.put_order(orders[3])["id"]
    waiting = h.runtime.processing.intake(h.connection.id, "order", shop_id, "test")
    h.runtime.projector.catch_up()
    h.ledger.delete("/__sandbox/requests")

    result = h.runtime.dry_runs.run(h.connection.id, _draft(h), *PERIOD)

    assert _ledger_requests(h) == []  # nothing was sent: not even a look-up
    bookings = [Booking.from_dict(h.runtime.app.document(d).booking) for d in posted]
    moved = _expected_move(bookings)
    assert moved > 0
    on_8000 = {d for d, b in zip(posted, bookings) if any(l.account == "8000" for l in b.lines)}
    assert on_8000 and {c.document_id for c in result.posted} == on_8000
    # Not checked yet: compared with what the settings in force would book.
    expected_open = [waiting] if any(
        line.account == "8000" for line in build_booking(
            h.runtime.app.document(waiting).source, h.connection.settings).lines) else []
    assert [c.document_id for c in result.open] == expected_open
    assert result.examined == 4
    for comparison in result.posted:
        changed = [line for line in comparison.lines if line.kind != "same"]
        assert changed and all(line.changed == ("account",) for line in changed)
        assert {(line.booked["account"], line.draft["account"]) for line in changed} == {
            ("8000", "8005")}
        assert comparison.vat_codes == {}  # R4.8: the VAT code of 21% stays HOOG_VERK_21
    posted_totals = {}
    for comparison in result.posted:
        for account, amount in comparison.accounts.items():
            posted_totals[account] = posted_totals.get(account, 0) + amount
    assert posted_totals == {"8000": -moved, "8005": moved}


def test_applying_a_draft_reprocesses_open_and_corrects_posted_once(harness,
                                                                    paid_domestic_orders):
    h = harness
    orders = paid_domestic_orders(3)
    posted = _posted(h, orders[:2])
    posted = [d for d in posted if any(line["account"] == "8000" for line in
                                       h.runtime.app.document(d).booking["lines"])]
    assert posted, "no order with a 21% product line: choose other orders"
    shop_id = h.put_order(orders[2])["id"]
    waiting = h.runtime.processing.intake(h.connection.id, "order", shop_id, "test")
    h.runtime.projector.catch_up()
    numbers = {d: h.runtime.app.document(d).number for d in posted}
    before = h.runtime.app.find_connection(h.connection.id).settings_version
    sealed = h.runtime.app.find_connection(h.connection.id).settings["ledger"]["api_token"]

    applied = h.runtime.apply_draft.apply(
        h.connection.id, _draft(h), *PERIOD, by="support@example.test",
        reason="accountant: 21% revenue on 8005 from now on", book_corrections=True)

    connection = h.runtime.app.find_connection(h.connection.id)
    assert applied.settings_version == connection.settings_version == before + 1
    assert connection.settings["vat"][0]["revenue_account"] == "8005"
    assert connection.settings["ledger"]["api_token"] == sealed  # credentials kept, sealed
    changes = any(line.account == "8000" for line in build_booking(
        h.runtime.app.document(waiting).source, h.connection.settings).lines)
    assert applied.reprocessed == ([h.runtime.app.document(waiting).number] if changes else [])
    assert len(applied.corrections) == len(posted) and applied.listed == []
    already = len(h.mutations())  # nothing is booked before the corrections are run

    for correction in applied.corrections:
        assert _run(h, correction).done
    assert h.process(waiting).status == "posted"
    booked = {m["invoiceNumber"]: m for m in h.mutations()}
    version = applied.settings_version
    for doc_id in posted:
        number = numbers[doc_id]
        original, reversal = booked[number], booked[f"{number}-R{version}"]
        rebooking = booked[f"{number}-C{version}"]
        assert sorted(Decimal(str(r["amount"])) for r in reversal["rows"]) == sorted(
            -Decimal(str(r["amount"])) for r in original["rows"])
        assert sum(Decimal(str(r["amount"])) for r in rebooking["rows"]) == sum(
            Decimal(str(r["amount"])) for r in original["rows"])
    # The audit: who and why, on the correction and on the application of the draft.
    history = h.runtime.app.history(applied.corrections[0])
    assert (history[0].by, history[0].reason) == (
        "support@example.test", "accountant: 21% revenue on 8005 from now on")

    # Applying the same draft again books nothing more.
    again = h.runtime.apply_draft.apply(
        h.connection.id, _draft(h), *PERIOD, by="support@example.test", reason="again",
        book_corrections=True)
    for correction in again.corrections:
        _run(h, correction)
    assert len(h.mutations()) == len(booked) == already + 2 * len(posted) + 1


@pytest.mark.parametrize("part", ["R", "C"])
def test_a_500_after_commit_books_a_correction_part_once(harness, paid_domestic_orders, part):
    h = harness
    number, applied, correction = _one_to_correct(h, paid_domestic_orders)
    # The ledger commits the part, then answers 500: koppel cannot know it arrived.
    h.arm(mode="after_commit", method="POST", path="/v1/mutation", count=1,
          body=f"{number}-{part}{applied.settings_version}")
    with pytest.raises(TransientError):
        for _ in range(2):  # the reversal first; the new booking's fault is met on its turn
            h.runtime.corrections.run(correction)
    done = _run(h, correction)
    assert done.done
    numbers = [m["invoiceNumber"] for m in h.mutations()]
    for suffix in "RC":
        assert numbers.count(f"{number}-{suffix}{applied.settings_version}") == 1
    events = [type(e).__name__ for e in h.runtime.app.history(correction)]
    assert "Interrupted" in events and "LookedUp" in events
    found = [e for e in h.runtime.app.history(correction)
             if isinstance(e, Correction.Posted) and e.found_by_lookup]
    assert [e.part for e in found] == ["reversal" if part == "R" else "rebooking"]


def _one_to_correct(h, paid_domestic_orders):
    """Post the first order with a 21% line and apply the draft: (its number, what applying
    said, its correction)."""
    _add_account(h)
    for order in paid_domestic_orders(6):
        document = h.runtime.app.document(_post_one(h, order))
        if any(line["account"] == "8000" for line in document.booking["lines"]):
            break
    h.runtime.projector.catch_up()
    applied = h.runtime.apply_draft.apply(h.connection.id, _draft(h), *PERIOD, by="m",
                                          reason="new revenue account", book_corrections=True)
    [correction] = applied.corrections
    return document.number, applied, correction


class _Killed(BaseException):
    """The worker's process ends here: nothing after this line is saved."""


def test_a_runner_killed_after_the_ledger_committed_books_nothing_twice(
        harness, paid_domestic_orders, monkeypatch):
    h = harness
    number, applied, correction = _one_to_correct(h, paid_domestic_orders)
    corrections = h.runtime.corrections
    real = corrections._send_once

    def dies_after_the_ledger_answered(*args):
        real(*args)  # the ledger holds the reversal now
        raise _Killed()

    monkeypatch.setattr(corrections, "_send_once", dies_after_the_ledger_answered)
    with pytest.raises(_Killed):
        corrections.run(correction)
    monkeypatch.undo()
    assert h.runtime.app.repository.get(correction).states["reversal"] == "posting"
    with pytest.raises(ClaimHeld):  # its claim keeps every other runner out for its lease
        corrections.run(correction)
    assert _run(h, correction).done
    numbers = [m["invoiceNumber"] for m in h.mutations()]
    version = applied.settings_version
    assert numbers.count(f"{number}-R{version}") == 1
    assert numbers.count(f"{number}-C{version}") == 1


def test_a_source_changed_after_posting_is_compared_as_it_was_booked(harness,
                                                                      paid_domestic_orders):
    """R5.7: a posted order the shop changed afterwards is recorded, not booked again; the dry
    run compares the draft on the source that was booked, so settings equal to the current
    ones change nothing, though the changed source would book other lines."""
    h = harness
    order = paid_domestic_orders(1)[0]
    shop_id = h.put_order(order)["id"]
    doc_id = h.runtime.processing.intake(h.connection.id, "order", shop_id, "test")
    assert h.process(doc_id).status == "posted"
    customer = dict(h.runtime.app.document(doc_id).source["order"]["customer"])
    for address in ("billingaddress", "deliveryaddress"):
        if isinstance(customer.get(address), dict):
            customer[address] = {**customer[address], "country_code": "DE", "country": "DE"}
    h.shop.patch(f"/__sandbox/orders/{shop_id}",
                 json={"customer": customer, "notify": False}).raise_for_status()
    h.runtime.processing.intake(h.connection.id, "order", shop_id, "test")
    document = h.runtime.app.document(doc_id)
    assert document.changed_after_posting and document.status == "posted"
    current = h.connection.settings
    now = build_booking(document.source, current)
    assert now.lines != Booking.from_dict(document.booking).lines  # the new source differs
    h.runtime.projector.catch_up()

    result = h.runtime.dry_runs.run(h.connection.id, current, *PERIOD)

    assert result.examined == 1 and result.documents == []


def test_a_draft_that_fails_a_check_is_listed_and_never_corrected(harness,
                                                                   paid_domestic_orders):
    """R4.8: without an entry for 21% a line has no VAT code (VAT_CODE_MISSING): the dry run
    says so, and applying the draft puts such a posted document on the list only."""
    h = harness
    doc_ids = _posted(h, paid_domestic_orders(3))
    with_21 = [d for d in doc_ids if any(line["vat_rate"] == "21" for line in
                                         h.runtime.app.document(d).booking["lines"])]
    assert with_21
    h.runtime.projector.catch_up()
    draft = settings_with(h.shop_url, **{'rate = "21"': 'rate = "22"'})

    result = h.runtime.dry_runs.run(h.connection.id, draft, *PERIOD)

    failing = {c.document_id: c for c in result.posted if c.draft_checks}
    assert set(failing) == set(with_21)
    assert all("VAT_CODE_MISSING" in c.draft_checks for c in failing.values())
    before = len(h.mutations())
    applied = h.runtime.apply_draft.apply(h.connection.id, draft, *PERIOD, by="m",
                                          reason="try 22%", book_corrections=True)
    numbers = {h.runtime.app.document(d).number for d in with_21}
    assert numbers <= set(applied.listed) and applied.corrections == []
    assert len(h.mutations()) == before


def test_a_draft_for_another_ledger_is_refused(harness):
    from application.apply_draft import DraftRefused

    h = harness
    billit = settings_with(h.shop_url, "billit")
    with pytest.raises(DraftRefused, match="another ledger"):
        h.runtime.apply_draft.apply(h.connection.id, billit, *PERIOD, by="m", reason="switch")
    assert h.runtime.app.find_connection(h.connection.id).settings_version == 1
