"""How the dry run (issue 13.2) pairs a booking's lines with the draft's: by what a line is
(kind, product code, description, rate), never by its account or VAT code, which are what a
settings change moves (R4.8)."""

from __future__ import annotations

from decimal import Decimal

from application.dryrun import compare_lines
from domain.lines import Line


def _line(kind="product", description="Mok", code="M1", rate="21", excl="10.00", vat="2.10",
          account="8000", vat_code="HOOG_VERK_21") -> Line:
    excl, vat = Decimal(excl), Decimal(vat)
    return Line(kind=kind, description=description, quantity=Decimal(1), vat_rate=Decimal(rate),
                amount_excl=excl, vat_amount=vat, amount_incl=excl + vat, vat_code=vat_code,
                account=account, code=code, rules=("R4.1",))


def test_the_same_line_on_another_account_is_changed_not_added():
    [change] = compare_lines([_line()], [_line(account="8005")])
    assert change.kind == "changed" and change.changed == ("account",)
    assert (change.booked["account"], change.draft["account"]) == ("8000", "8005")


def test_lines_only_one_side_has_are_added_or_removed():
    booked = [_line(), _line(kind="rounding", description="Afronding", code="", excl="0.01",
                             vat="0.00", account="8090", vat_code="GEEN", rate="0")]
    draft = [_line(vat_code="VAT_OSS", vat="1.90", account="8300"),
             _line(kind="oss_vat", description="OSS btw DE", code="", excl="1.90", vat="0.00",
                   account="1665", vat_code="GEEN", rate="0")]
    kinds = sorted((c.kind, c.line["kind"]) for c in compare_lines(booked, draft))
    assert kinds == [("added", "oss_vat"), ("changed", "product"), ("removed", "rounding")]


def test_two_rows_of_the_same_product_pair_in_order_and_unchanged_ones_are_same():
    booked = [_line(excl="10.00"), _line(excl="20.00", vat="4.20")]
    draft = [_line(excl="10.00"), _line(excl="20.00", vat="4.20", vat_code="X")]
    changes = compare_lines(booked, draft)
    assert [c.kind for c in changes] == ["same", "changed"]
    assert changes[1].changed == ("vat_code",)
