"""The matching and the kinds of difference of a reconciliation (domain.reconciliation)."""

from __future__ import annotations

from decimal import Decimal as D

from domain.reconciliation import (Change, KoppelBooking, Kind, LedgerBooking, Line,
                                   ShopDocument, reconcile)


def booking(number: str, *lines: tuple[str, str, str], day="2026-03-02", country="NL"):
    return KoppelBooking("WS" + number, number, day, country,
                         tuple(Line(a, v, D(x)) for a, v, x in lines))


def entry(key: str, *lines: tuple[str, str, str], day="2026-03-02", ref="1"):
    return LedgerBooking(key, key, day, tuple(Line(a, v, D(x)) for a, v, x in lines), ref)


def shop(number: str, total: str, country="NL"):
    return ShopDocument(number, "2026-03-02", D(total), country)


LINES = (("8000", "HOOG_VERK_21", "121.00"), ("8010", "LAAG_VERK_9", "10.90"))


def test_the_same_on_every_side_is_no_difference():
    result = reconcile([shop("1", "131.90")], [booking("1", *LINES)], [entry("WS1", *LINES)])
    assert result.differences == [] and result.matched == 1 and not result.differs
    assert result.koppel.by_vat_code == {"HOOG_VERK_21": D("121.00"), "LAAG_VERK_9": D("10.90")}
    assert result.ledger.by_account == {"8000": D("121.00"), "8010": D("10.90")}
    assert result.ledger.by_country == {"NL": D("131.90")} == result.koppel.by_country
    assert result.shop.total == result.koppel.total == result.ledger.total == D("131.90")


def test_rows_split_or_in_another_order_are_the_same_booking():
    split = (("8010", "LAAG_VERK_9", "10.90"), ("8000", "HOOG_VERK_21", "100.00"),
             ("8000", "HOOG_VERK_21", "21.00"))
    assert reconcile([], [booking("1", *LINES)], [entry("WS1", *split)]).differences == []


def test_each_kind_is_found_and_named():
    shop_docs = [shop(n, "131.90") for n in ("1", "2", "3", "4")]
    koppel = [booking(n, *LINES) for n in ("1", "2", "3")]
    ledger = [entry("WS1", *LINES),
              entry("WS3", ("8000", "HOOG_VERK_21", "121.00"), ("8010", "LAAG_VERK_9", "9.90")),
              entry("WS9", *LINES, ref="77")]
    result = reconcile(shop_docs, koppel, ledger, koppel_status={"4": "waiting"})
    kinds = [(d.kind, d.number) for d in result.differences]
    assert kinds == [(Kind.NOT_BOOKED, "4"), (Kind.MISSING_IN_LEDGER, "2"),
                     (Kind.DIFFERENT_IN_LEDGER, "3"), (Kind.NOT_FROM_KOPPEL, "WS9")]
    assert result.of_kind(Kind.NOT_BOOKED)[0].status == "waiting"
    different = result.of_kind(Kind.DIFFERENT_IN_LEDGER)[0]
    assert different.changes == (Change.AMOUNTS,)
    assert (different.koppel_total, different.ledger_total) == (D("131.90"), D("130.90"))
    assert result.of_kind(Kind.NOT_FROM_KOPPEL)[0].reference == "77"
    assert result.ledger.count == 3 and result.koppel.count == 3 and result.shop.count == 4


def test_an_edited_account_or_vat_code_is_named():
    moved = (("8001", "HOOG_VERK_21", "121.00"), ("8010", "LAAG_VERK_9", "10.90"))
    recoded = (("8000", "HOOG_VERK_21", "121.00"), ("8010", "HOOG_VERK_21", "10.90"))
    result = reconcile([], [booking("1", *LINES), booking("2", *LINES)],
                       [entry("WS1", *moved), entry("WS2", *recoded, day="2026-03-05")])
    assert [d.changes for d in result.differences] == [
        (Change.ACCOUNTS,), (Change.VAT_CODES, Change.DATE)]


def test_a_second_booking_under_koppels_number_is_not_koppels():
    result = reconcile([], [booking("1", *LINES)],
                       [entry("WS1", *LINES, ref="5"), entry("WS1", *LINES, ref="6")])
    assert [(d.kind, d.reference) for d in result.differences] == [(Kind.NOT_FROM_KOPPEL, "6")]


def test_ledger_bookings_outside_koppels_numbering_are_the_merchants_own():
    result = reconcile([], [], [entry("WS5", *LINES), entry("MANUAL-1", *LINES)],
                       ours=lambda entry: entry.key.startswith("WS"))
    assert [d.key for d in result.differences] == ["WS5"]
    assert result.ledger.count == 1


def test_a_booking_moved_into_the_period_is_edited_not_someone_elses():
    earlier = booking("7", *LINES, day="2026-02-27")
    result = reconcile([], [], [entry("WS7", *LINES, day="2026-03-02")], elsewhere=[earlier])
    [moved] = result.differences
    assert (moved.kind, moved.number, moved.changes) == (Kind.DIFFERENT_IN_LEDGER, "7",
                                                         (Change.DATE,))
    assert result.koppel.count == 0 and result.ledger.by_country == {"NL": D("131.90")}
