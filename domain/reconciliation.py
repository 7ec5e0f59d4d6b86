"""Reconciliation: the shop's documents, koppel's bookings and the ledger's own bookings of a
period side by side, matched by number, with every difference named by its kind.

Pure: the three sides come in as plain values (the application reads the shop's list API, the
event log's read model and the ledger's list API). A booking is matched by its *key*: the
number the ledger knows it by (the sales number of an e-Boekhouden mutation, koppel's external
id of a Billit order). Lines are compared as sums per (account, VAT code), incl. VAT: what the
ledger holds after rounding is the same whether a row was split or merged by hand.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Callable, Iterable

ZERO = Decimal("0.00")


class Kind(StrEnum):
    NOT_BOOKED = "not_booked"            # in the shop, not (yet) booked by koppel
    MISSING_IN_LEDGER = "missing"        # booked by koppel, gone from the ledger (deleted)
    DIFFERENT_IN_LEDGER = "different"    # booked by koppel, the ledger holds something else
    NOT_FROM_KOPPEL = "not_from_koppel"  # in the ledger under koppel's numbering, not koppel's


class Change(StrEnum):
    """What differs in a ledger booking that koppel made (``Kind.DIFFERENT_IN_LEDGER``)."""
    AMOUNTS = "amounts"
    ACCOUNTS = "accounts"
    VAT_CODES = "vat_codes"
    DATE = "date"


@dataclass(frozen=True)
class Line:
    account: str
    vat_code: str
    amount: Decimal  # incl. VAT, as sent to the ledger (R7.1)


@dataclass(frozen=True)
class ShopDocument:
    number: str
    date: str       # the booking date (R0.4), ISO
    total: Decimal  # incl. VAT
    country: str    # R1.4


@dataclass(frozen=True)
class KoppelBooking:
    key: str        # how the ledger knows it
    number: str     # the shop's number
    date: str
    country: str
    lines: tuple[Line, ...]

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)


@dataclass(frozen=True)
class LedgerBooking:
    key: str
    number: str     # as the ledger shows it
    date: str
    lines: tuple[Line, ...]
    reference: str = ""  # the ledger's own id (mutation id, order id)
    mark: str = ""       # koppel's number where the ledger numbered it (an invoice's reference)

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)


@dataclass(frozen=True)
class Difference:
    kind: Kind
    number: str           # the shop's number where known, else the ledger's
    key: str
    koppel_total: Decimal | None = None
    ledger_total: Decimal | None = None
    shop_total: Decimal | None = None
    changes: tuple[Change, ...] = ()
    status: str = ""      # koppel's status of a document it did not book ("" : never heard of)
    reference: str = ""


@dataclass
class Totals:
    """Count and amount incl. VAT, in all and per VAT code, account and delivery country."""
    count: int = 0
    total: Decimal = ZERO
    by_vat_code: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    by_account: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    by_country: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))

    def add(self, lines: Iterable[Line], country: str) -> None:
        self.count += 1
        for line in lines:
            self.total += line.amount
            self.by_vat_code[line.vat_code] += line.amount
            self.by_account[line.account] += line.amount
            self.by_country[country] += line.amount

    def sorted(self) -> "Totals":
        for table in (self.by_vat_code, self.by_account, self.by_country):
            items = sorted(table.items())
            table.clear()
            table.update(items)
        return self


@dataclass
class Reconciliation:
    shop: Totals
    koppel: Totals
    ledger: Totals
    differences: list[Difference]
    matched: int

    @property
    def differs(self) -> bool:
        return bool(self.differences)

    def of_kind(self, kind: Kind) -> list[Difference]:
        return [d for d in self.differences if d.kind == kind]


def _sums(lines: Iterable[Line]) -> dict[tuple[str, str], Decimal]:
    sums: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for line in lines:
        sums[line.account, line.vat_code] += line.amount
    return {k: v for k, v in sums.items() if v}


def changes(koppel: KoppelBooking, ledger: LedgerBooking) -> tuple[Change, ...]:
    """What the ledger holds otherwise than koppel booked it (empty: the same)."""
    mine, theirs = _sums(koppel.lines), _sums(ledger.lines)
    found = []
    if mine != theirs:
        if koppel.total != ledger.total or sorted(mine.values()) != sorted(theirs.values()):
            found.append(Change.AMOUNTS)
        if {a for a, _ in mine} != {a for a, _ in theirs}:
            found.append(Change.ACCOUNTS)
        if {v for _, v in mine} != {v for _, v in theirs}:
            found.append(Change.VAT_CODES)
        if not found:  # the same accounts, codes and amounts, paired otherwise
            found.append(Change.ACCOUNTS)
    if koppel.date[:10] != ledger.date[:10]:
        found.append(Change.DATE)
    return tuple(found)


def reconcile(shop: Iterable[ShopDocument], koppel: Iterable[KoppelBooking],
              ledger: Iterable[LedgerBooking], *, koppel_status: dict[str, str] | None = None,
              ours: Callable[[LedgerBooking], bool] = lambda entry: True,
              elsewhere: Iterable[KoppelBooking] = ()) -> Reconciliation:
    """``koppel_status``: koppel's status per shop number of documents it knows but did not
    book in the period (waiting, failed...). ``ours(entry)``: is a ledger booking in koppel's
    numbering (one outside it is the merchant's own business, not a difference).
    ``elsewhere``: koppel's bookings of other periods under the keys of ledger bookings of this
    one (someone moved the date into the period: edited, not someone else's)."""
    shop, koppel, ledger = list(shop), list(koppel), list(ledger)
    koppel_status = koppel_status or {}
    result = Reconciliation(Totals(), Totals(), Totals(), [], 0)
    booked = {b.number: b for b in koppel}
    by_key = {b.key: b for b in koppel}
    in_ledger: dict[str, list[LedgerBooking]] = defaultdict(list)
    for entry in ledger:
        in_ledger[entry.key].append(entry)

    for doc in shop:
        result.shop.count += 1
        result.shop.total += doc.total
        result.shop.by_country[doc.country] += doc.total
        if doc.number not in booked:
            result.differences.append(Difference(
                Kind.NOT_BOOKED, doc.number, doc.number, shop_total=doc.total,
                status=koppel_status.get(doc.number, "")))

    for booking in koppel:
        result.koppel.add(booking.lines, booking.country)
        found = in_ledger.get(booking.key, [])
        if not found:
            result.differences.append(Difference(
                Kind.MISSING_IN_LEDGER, booking.number, booking.key,
                koppel_total=booking.total))
            continue
        entry, *others = found
        result.ledger.add(entry.lines, booking.country)
        found_changes = changes(booking, entry)
        if found_changes:
            result.differences.append(Difference(
                Kind.DIFFERENT_IN_LEDGER, booking.number, booking.key,
                koppel_total=booking.total, ledger_total=entry.total, changes=found_changes,
                reference=entry.reference))
        else:
            result.matched += 1
        for extra in others:  # a second booking under the same number: not koppel's
            result.ledger.add(extra.lines, booking.country)
            result.differences.append(Difference(
                Kind.NOT_FROM_KOPPEL, booking.number, extra.key,
                ledger_total=extra.total, reference=extra.reference))

    moved_in = {b.key: b for b in elsewhere}
    for key, entries in in_ledger.items():
        if key in by_key:
            continue
        for index, entry in enumerate(entries):
            booking = moved_in.get(key)
            if booking is not None and index == 0:
                result.ledger.add(entry.lines, booking.country)
                result.differences.append(Difference(
                    Kind.DIFFERENT_IN_LEDGER, booking.number, key,
                    koppel_total=booking.total, ledger_total=entry.total,
                    changes=changes(booking, entry) or (Change.DATE,),
                    reference=entry.reference))
                continue
            if not ours(entry):
                continue
            result.ledger.add(entry.lines, "")
            result.differences.append(Difference(
                Kind.NOT_FROM_KOPPEL, entry.number, key, ledger_total=entry.total,
                reference=entry.reference))

    result.differences.sort(key=lambda d: (list(Kind).index(d.kind), d.number, d.key))
    for totals in (result.shop, result.koppel, result.ledger):
        totals.sorted()
    return result
