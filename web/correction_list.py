"""The correction list for the accountant (issue 13.2): what a settings draft changes in the
bookings of a period, line by line, and the difference per ledger account and VAT code, as CSV
or XLSX. Posted documents need a correction in the ledger (by hand, or koppel's correction
bookings); documents not posted yet are run again with the new settings, so they are listed
for information only.

Text from the shop goes through ``export_files.neutral`` (no live formulas); amounts are
numbers from ``Decimal``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Callable, Iterator

from application.dryrun import DryRunResult
from web.export_files import write_csv, write_xlsx

Text = Callable[[str], str]


def _amount(line: dict | None, key: str):
    return Decimal(line[key]) if line is not None else ""


def _value(line: dict | None, key: str) -> str:
    return (line or {}).get(key) or ""


def sections(result: DryRunResult, _: Text) -> Iterator[tuple[str, list, list]]:
    """(title, header, rows) of each table, in the order the files show them."""
    changes = {"added": _("added"), "removed": _("removed"), "changed": _("changed")}
    rows = []
    for comparison in result.documents:
        action = _("correct in the ledger") if comparison.posted else _("runs again")
        problem = comparison.problem or ", ".join(comparison.draft_checks)
        for line in comparison.lines:
            if line.kind == "same":
                continue
            shown = line.line
            rows.append([comparison.date, comparison.number, action, changes[line.kind],
                         shown["description"], shown["vat_rate"],
                         _value(line.booked, "account"), _value(line.draft, "account"),
                         _value(line.booked, "vat_code"), _value(line.draft, "vat_code"),
                         _amount(line.booked, "amount_excl"), _amount(line.draft, "amount_excl"),
                         _amount(line.booked, "vat_amount"), _amount(line.draft, "vat_amount"),
                         problem])
        if problem and not any(line.kind != "same" for line in comparison.lines):
            rows.append([comparison.date, comparison.number, action, "", "", "", "", "", "",
                         "", "", "", "", "", problem])
    yield (_("Changed lines"),
           [_("Date"), _("Number"), _("What happens"), _("Change"), _("Description"),
            _("VAT rate"), _("Account booked"), _("Account with the draft"),
            _("VAT code booked"), _("VAT code with the draft"), _("Excl. VAT booked"),
            _("Excl. VAT with the draft"), _("VAT booked"), _("VAT with the draft"),
            _("Check that fails with the draft")], rows)
    for title, key, which in ((_("Difference per ledger account"), _("Ledger account"),
                               "accounts"),
                              (_("Difference per VAT code"), _("VAT code"), "vat_codes")):
        totals = [[name, amount] for name, amount in
                  _posted_totals(result, which).items()]
        yield title, [key, _("Difference (draft minus booked)")], totals


def _posted_totals(result: DryRunResult, which: str) -> dict[str, Decimal]:
    """Only what is posted needs correcting in the ledger."""
    out: dict[str, Decimal] = {}
    for comparison in result.posted:
        for key, amount in getattr(comparison, which).items():
            out[key] = out.get(key, Decimal(0)) + amount
    return {key: amount for key, amount in sorted(out.items()) if amount}


def to_csv(result: DryRunResult, _: Text) -> bytes:
    return write_csv([_("Correction list"), result.connection, result.date_from.isoformat(),
                      result.date_to.isoformat()], sections(result, _))


def to_xlsx(result: DryRunResult, _: Text) -> bytes:
    return write_xlsx(sections(result, _))
