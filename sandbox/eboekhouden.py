"""A faithful local fake of the e-Boekhouden REST API (v1).

Wire format: ``/work/shared/reference/eboekhouden-api.md`` (its last section: the official
OpenAPI document). Where the notes mark a fact as a guess the fake takes the documented best
guess and is as strict as the real server, never stricter. The choices, in one place:

- numbers may come as JSON numbers or as numeric JSON strings (``"121.00"``): the real server
  (ASP.NET Core) reads both; a ledger *code* where an id belongs is then an unknown id;
- string fields the client left out are answered as ``""``, not ``null``, as the live API does;

- session start: 400 ``validation`` for a missing/ill-formed source or token, 403 ``security``
  for an unknown token (``SECURITY_001``) or an expired one (``API_SESSION_004``);
  ``expiresIn`` 3600; a 401 has no body (the official document gives it none; the code
  ``SECURITY_010`` exists, so a client may neither need nor rely on one);
- creates answer 201, PATCH and ``DELETE /v1/session`` 204 without a body;
- the documented limits: relation ``note`` 40,000 and ``companyRegistrationNumber`` 50
  characters, invoice ``items`` 500 (``FACT_025``), invoice ``text`` 35,000 (``FACT_017``),
  invoice ``mutation.description`` 200;
- ``GET /v1/ledger/balances`` without ``from``/``to`` answers ``LEDG_020`` (the request took too
  long) once the administration holds more mutations than the option ``balances_limit``
  (default: never; the real limit is time, not a count);
- whether the ledger refuses negative invoice lines or totals is not documented (``FACT_ITEM_009``
  "Total price is too low", ``FACT_005`` "Total invoice amount too low"): by default it accepts
  them; the options ``min_item_total`` / ``min_invoice_total`` make it refuse below a threshold;
- list ``count`` is the number of items on *this page* (the spec's literal wording), so
  clients must page by ``len(items) < limit``;
- string filters and uniqueness (relation codes, invoice numbers) are case-insensitive, as on
  a SQL Server with its default collation;
- list items and relation ``date`` are date-time strings (``2025-03-14T00:00:00``), details use
  plain dates, so clients stay tolerant of both;
- VAT is computed per VAT code over the summed rows (the default setting; "per row" is an
  option in e-Boekhouden), rounded half-up to cents;
- payments (types 3/4) must use ``GEEN`` and name an open item of the same relation
  (``MUT_115`` otherwise); items with nothing outstanding leave the outstanding list;
- a memorial (type 7) whose rows do not net to zero is ``MUT_118``.

Control API under ``/__sandbox/`` (no auth), see ``_register_control``.
This module imports nothing of koppel: a fake sharing code with its client proves nothing.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import wraps

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from sandbox.control import add_clock_and_request_log, add_options
from sandbox.faults import Faults

SESSION_SECONDS = 3600
CENT = Decimal("0.01")
SOURCE_PATTERN = re.compile(r"^[\w_ ]{1,10}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Titles of the error codes the fake raises (from eboekhouden-error-codes.tsv).
TITLES = {
    "ERR_001": "Something went wrong.",
    "ERR_002": "Your request contains an invalid value.",
    "DATA_01": "No content body provided.",
    "PAGE_001": "Limit must be between 1 and 2000.",
    "PAGE_002": "Offset must be greater than or equal to 0.",
    "SECURITY_001": "No permission to access the requested resource.",
    "SECURITY_010": "Not authenticated. Check your Authorization header.",
    "API_SESSION_001": "Source is missing.",
    "API_SESSION_002": "Source does not match pattern.",
    "API_SESSION_003": "Access token is missing or empty.",
    "API_SESSION_004": "Access token has expired.",
    "LEDG_001": "Code is missing.",
    "LEDG_002": "Code is too long.",
    "LEDG_003": "Description is missing.",
    "LEDG_004": "Description is too long.",
    "LEDG_005": "Category is missing.",
    "LEDG_010": "Ledger category doesn't exist.",
    "LEDG_011": "Ledger not found.",
    "LEDG_013": "Ledger code already exists.",
    # LEDG_020 is in the official OpenAPI document only; its wording there is not copied.
    "LEDG_020": "The request took too long; narrow it with from and to.",
    "REL_001": "Relation type is invalid (B,P).",
    "REL_002": "Name is mandatory.",
    "REL_003": "Name is too long.",
    "REL_004": "Gender is invalid (m,v,a).",
    "REL_005": "Code is invalid.",
    "REL_006": "Code is too long.",
    "REL_008": "Company registration number must be numeric.",
    "REL_009": "Contact is too long.",
    "REL_010": "Salutation is too long.",
    "REL_011": "Address is too long.",
    "REL_012": "Postal code is too long.",
    "REL_013": "City is too long.",
    "REL_014": "Country is too long.",
    "REL_015": "Address 2 is too long.",
    "REL_016": "Postal code 2 is too long.",
    "REL_017": "City 2 is too long.",
    "REL_018": "Country 2 is too long.",
    "REL_019": "Phone is too long.",
    "REL_020": "Mobile is too long.",
    "REL_021": "Fax is too long.",
    "REL_022": "Email is too long.",
    "REL_023": "Email is invalid.",
    "REL_024": "Email invoice is too long.",
    "REL_025": "Email invoice is invalid.",
    "REL_026": "Email reminder is too long.",
    "REL_027": "Email reminder is invalid.",
    "REL_028": "Website is too long.",
    "REL_029": "Iban is too long.",
    "REL_030": "Term of payment too low.",
    "REL_031": "Term of payment too high.",
    "REL_032": "BIC is too long.",
    "REL_034": "Mandate ID is too long.",
    "REL_035": "VAT number is too long.",
    "REL_047": "Note too long.",
    "REL_048": "Ledger not found.",
    "REL_049": "Code already exists.",
    "REL_050": "Company registration number is too long.",
    "REL_051": "Mandate type is invalid (E,D).",
    "REL_055": "Relation not found.",
    **{f"REL_0{37 + i}": f"Free text {i + 1} is too long." for i in range(10)},
    "FACT_001": "Relation ID is missing.",
    "FACT_002": "Relation not found.",
    "FACT_003": "Relation is inactive.",
    "FACT_007": "Invoice number is too long.",
    "FACT_008": "Invoice number is invalid.",
    "FACT_009": "Invoice number does not end with a digit.",
    "FACT_010": "Invoice VAT must be IN or EX.",
    "FACT_012": "Invoice date invalid.",
    "FACT_014": "Payment reference is too long.",
    "FACT_015": "Term of payment is missing.",
    "FACT_016": "Term of payment out of range.",
    "FACT_004": "Total invoice amount too high.",
    "FACT_005": "Total invoice amount too low.",
    "FACT_017": "Invoice text is too long.",
    "FACT_018": "Invoice template not found.",
    "FACT_019": "Invoice items are missing.",
    "FACT_021": "Invoice not found.",
    "FACT_025": "Too many items.",
    "FACT_101": "Invoice number is in use.",
    "FACT_ITEM_001": "Description invoice item is missing.",
    "FACT_ITEM_002": "Description invoice item is too long.",
    "FACT_ITEM_003": "Code invoice item is too long.",
    "FACT_ITEM_004": "Price per unit excl. VAT is missing.",
    "FACT_ITEM_005": "Price per unit incl. VAT is missing.",
    "FACT_ITEM_006": "VAT code is missing.",
    "FACT_ITEM_007": "Ledger ID is missing",
    "FACT_ITEM_008": "Total price is too high.",
    "FACT_ITEM_009": "Total price is too low.",
    "FACT_ITEM_012": "Ledger account not found.",
    "FACT_ITEM_013": "Discount amount cannot have a value when discount percentage is passed.",
    "FACT_ITEM_014": "Invalid VAT code.",
    "FACT_ITEM_015": "VAT amount must be used with VAT code: 'AFW_VERK'",
    "FACT_VERWERK_002": "Description is too long.",
    "FACT_VERWERK_003": "Payment reference is too long.",
    "FACT_VERWERK_004": "Payment reference already exists.",
    "MUTA_001": "Ledger id is missing.",
    "MUTA_002": "Type is missing",
    "MUTA_003": "Vat amount must be used with vatCode: 'AFW' or 'AFW_VERK'",
    "MUTA_004": "Ledger ID for row is missing.",
    "MUTA_005": "In/Ex VAT is missing.",
    "MUTA_006": "Credit/Debit is missing.",
    "MUTA_007": "Credit/Debit must be 'C' or 'D'.",
    "MUTA_008": "Payment reference already exists.",
    "MUT_001": "Type is invalid.",
    "MUT_002": "Invoice number is missing.",
    "MUT_003": "Date is missing.",
    "MUT_004": "Date is invalid.",
    "MUT_007": "Unknown ledger for mutation.",
    "MUT_009": "Invalid ledger category for mutation.",
    "MUT_010": "Ledger must be of category creditor.",
    "MUT_011": "Ledger must be of category debtor.",
    "MUT_012": "Relation is missing.",
    "MUT_013": "Relation not found.",
    "MUT_016": "Term of payment is prohibited.",
    "MUT_017": "In/Ex VAT must be 'IN' or 'EX'.",
    "MUT_018": "Invoice number is too long.",
    "MUT_019": "Invoice number already exists.",
    "MUT_020": "Combination relation/invoice number already exists.",
    "MUT_100": "Rows are missing.",
    "MUT_101": "Too many rows.",
    "MUT_104": "Unknown ledger for row.",
    "MUT_106": "Invalid ledger category for row.",
    "MUT_107": "Ledger of row must be of category creditor.",
    "MUT_108": "Ledger of row must be of category debtor.",
    "MUT_109": "Invalid VAT code.",
    "MUT_110": "VAT code must be of type purchase.",
    "MUT_111": "VAT code must be of type sale.",
    "MUT_112": "Relation is missing.",
    "MUT_113": "Relation not found.",
    "MUT_115": "Invoice not found.",
    "MUT_117": "Cost center not found.",
    "MUT_118": "Ledger is not in balance.",
    "MUT_120": "Invoice number is missing.",
    "MUT_300": "Mutation not found.",
    "COST_001": "Cost Center not found.",
    "COST_003": "Cost center description is required.",
    "COST_004": "Cost center description is too long.",
    "COST_005": "Cost center with this name already exists on this level of the tree.",
    "COST_006": "Cost center parent id cannot be changed.",
    "COST_007": "Cost center parent is not active.",
    "COST_008": "Cost center parent not found.",
}

# VAT codes accepted on mutation rows and invoice items (§2), with their rate in percent.
# Reverse-charge and 0% codes charge the customer no VAT; AFW/AFW_VERK take ``vatAmount``.
SALE_VAT = {
    "HOOG_VERK_21": Decimal(21), "LAAG_VERK_9": Decimal(9), "VERL_VERK": Decimal(0),
    "VERL_VERK_L9": Decimal(0), "AFW_VERK": None, "BU_EU_VERK": Decimal(0),
    "BI_EU_VERK": Decimal(0), "BI_EU_VERK_D": Decimal(0), "AFST_VERK": Decimal(0),
}
PURCHASE_VAT = {
    "HOOG_INK_21": Decimal(21), "LAAG_INK_9": Decimal(9), "VERL_INK": Decimal(0),
    "AFW": None, "BU_EU_INK": Decimal(0), "BI_EU_INK": Decimal(0),
}
NO_VAT = "GEEN"
ALL_VAT = {**SALE_VAT, **PURCHASE_VAT, NO_VAT: Decimal(0)}
CATEGORIES = {"BAL", "VW", "AF6", "AF19", "AFOVERIG", "AF", "VOOR", "BTWRC", "FIN", "DEB", "CRED"}
CONTROL_CATEGORIES = {"FIN", "DEB", "CRED"}

# A realistic slice of e-Boekhouden's default Dutch chart, plus the accounts koppel's example
# settings name (payment providers, revenue per VAT kind, OSS VAT per country).
DEFAULT_CHART = [
    ("0100", "Inventaris", "BAL", "0010"),
    ("0500", "Eigen vermogen", "BAL", "0050"),
    ("1000", "Kas", "FIN", "1000"),
    ("1010", "Bank", "FIN", "1000"),
    ("1100", "iDEAL (betaalprovider)", "FIN", "1000"),
    ("1110", "PayPal", "FIN", "1000"),
    ("1300", "Debiteuren", "DEB", "1300"),
    ("1310", "Debiteuren buitenland", "DEB", "1300"),
    ("1400", "Btw af te dragen hoog", "AF19", "1400"),
    ("1410", "Btw af te dragen laag", "AF6", "1400"),
    ("1420", "Btw af te dragen overig", "AFOVERIG", "1400"),
    ("1450", "Voorbelasting", "VOOR", "1400"),
    ("1460", "Btw rekening courant", "BTWRC", "1400"),
    ("1600", "Crediteuren", "CRED", "1600"),
    ("1640", "Btw België (OSS)", "BAL", "1600"),
    ("1665", "Btw Duitsland (OSS)", "BAL", "1600"),
    ("1670", "Btw Frankrijk (OSS)", "BAL", "1600"),
    ("4000", "Algemene kosten", "VW", "4000"),
    ("7000", "Inkoopwaarde van de omzet", "VW", "7000"),
    ("8000", "Omzet hoog", "VW", "8000"),
    ("8001", "Omzet laag", "VW", "8000"),
    ("8002", "Omzet 0% / vrijgesteld", "VW", "8000"),
    ("8010", "Verzendkosten", "VW", "8000"),
    ("8020", "Betaalkosten", "VW", "8000"),
    ("8090", "Afrondingsverschillen", "VW", "8000"),
    ("8100", "Omzet intracommunautair (ICP)", "VW", "8000"),
    ("8200", "Omzet export buiten de EU", "VW", "8000"),
    ("8300", "Omzet OSS", "VW", "8000"),
    ("8400", "Kortingen", "VW", "8000"),
]
DEFAULT_TEMPLATES = [("Invoice template", True, "E"), ("Factuur standaard", True, "E"),
                     ("Oud sjabloon", False, "A")]

RELATION_LIMITS = {  # field: (max length, code)
    "name": (100, "REL_003"), "code": (15, "REL_006"), "salutation": (50, "REL_010"),
    "contact": (50, "REL_009"), "address": (150, "REL_011"), "postalCode": (50, "REL_012"),
    "city": (50, "REL_013"), "country": (50, "REL_014"), "address2": (150, "REL_015"),
    "postalCode2": (50, "REL_016"), "city2": (50, "REL_017"), "country2": (50, "REL_018"),
    "phoneNumber": (50, "REL_019"), "mobilePhoneNumber": (50, "REL_020"),
    "faxNumber": (50, "REL_021"), "emailAddress": (150, "REL_022"),
    "emailAddressInvoice": (150, "REL_024"), "emailAddressReminder": (150, "REL_026"),
    "website": (50, "REL_028"), "iban": (50, "REL_029"), "bic": (20, "REL_032"),
    "vatNumber": (50, "REL_035"), "mandateId": (35, "REL_034"), "note": (40000, "REL_047"),
    "companyRegistrationNumber": (50, "REL_050"),
    **{f"freeText{i + 1}": (100, f"REL_0{37 + i}") for i in range(10)},
}
RELATION_FIELDS = [
    "type", "code", "name", "salutation", "contact", "gender", "address", "postalCode", "city",
    "country", "address2", "postalCode2", "city2", "country2", "phoneNumber",
    "mobilePhoneNumber", "faxNumber", "emailAddress", "emailAddressInvoice",
    "emailAddressReminder", "website", "note", "vatNumber", "inactive", "termOfPayment",
    "companyRegistrationNumber", "iban", "bic", *[f"freeText{i + 1}" for i in range(10)],
    "doNotReceiveNewsletters", "ledgerId", "mandate", "mandateType", "mandateId",
    "mandateSignedDate",
]
RELATION_TEXT = {*RELATION_LIMITS, "type", "gender", "mandateType"}

# ``POST /__sandbox/options``: what the real ledger may do that its documents leave open.
OPTIONS = {
    "min_item_total": "refuse an invoice item whose total is below this (FACT_ITEM_009)",
    "min_invoice_total": "refuse an invoice whose total is below this (FACT_005)",
    "balances_limit": "answer LEDG_020 to balances without from/to above this many mutations",
}


class ApiError(Exception):
    """An e-Boekhouden error answer; raised anywhere in a view, rendered by one handler."""

    def __init__(self, status: int, code: str, *, property_name: str | None = None,
                 message: str | None = None, type_: str = "validation",
                 security_type: int | None = None) -> None:
        super().__init__(code)
        self.status, self.code, self.property_name = status, code, property_name
        self.message, self.type, self.security_type = message, type_, security_type


def _bad(code: str, prop: str | None = None, message: str | None = None) -> ApiError:
    return ApiError(400, code, property_name=prop, message=message)


def _json_response(payload, status: int = 200) -> Response:
    return Response(json.dumps(payload, default=_json_default), status=status,
                    mimetype="application/json")


def _json_default(value):
    if isinstance(value, Decimal):
        return float(value)  # the real API answers with doubles
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _problem(status: int, code: str | None, title: str, *, type_: str = "validation",
             property_name: str | None = None, message: str | None = None,
             security_type: int | None = None) -> Response:
    body: dict = {"type": type_, "title": title, "status": status}
    if code:
        body["code"] = code
    if message:
        body["message"] = message
    if property_name:
        body["propertyName"] = property_name
    if security_type is not None:
        body["securityType"] = security_type
    body["traceId"] = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"
    return _json_response(body, status)


def error_body(status: int, message: str) -> Response:
    """The body of an injected fault: e-Boekhouden's error shape (429 has no documented code)."""
    code = None if status == 429 else "ERR_001"
    return _problem(status, code, message, type_="error" if status >= 500 else "validation")


# -- small value helpers --------------------------------------------------------------------

# ASP.NET Core reads a number from a JSON string too (``"121.00"``, ``"7"``), but not with
# blanks, a leading "+" or a thousands separator.
NUMERIC_TEXT = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
INTEGER_TEXT = re.compile(r"-?\d+")


def _number(value, prop: str) -> Decimal:
    if isinstance(value, str) and NUMERIC_TEXT.fullmatch(value):
        return Decimal(value)
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise _bad("ERR_002", prop, "A number is expected.")
    return Decimal(str(value))


def _money(value, prop: str) -> Decimal:
    return _number(value, prop).quantize(CENT, ROUND_HALF_UP)


def _int_id(value, prop: str) -> int:
    """Ids are integers, as a JSON number or a numeric string; anything else is ERR_002."""
    if isinstance(value, str) and INTEGER_TEXT.fullmatch(value):
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, Decimal) and value == value.to_integral_value():
            return int(value)
        raise _bad("ERR_002", prop, "An integer id is expected.")
    return value


def _row_taxes(rows: list[dict], in_ex: str) -> list[Decimal]:
    """Each row's share of its VAT code's tax, which is computed over the summed rows (see
    ``_vat_totals``); the last row of a code takes the rounding difference."""
    taxes = []
    for row in rows:
        rate = ALL_VAT.get(row["vatCode"])
        if rate is None:
            taxes.append(row.get("vatAmount") or Decimal(0))
        else:
            base = 100 + rate if in_ex == "IN" else 100
            taxes.append(_round(row["amount"] * rate / base))
    for code in {r["vatCode"] for r in rows if ALL_VAT.get(r["vatCode"]) is not None}:
        indexes = [i for i, r in enumerate(rows) if r["vatCode"] == code]
        code_tax = _vat_totals([(code, sum((rows[i]["amount"] for i in indexes), Decimal(0)),
                                 None)], in_ex)[1]
        taxes[indexes[-1]] += code_tax - sum((taxes[i] for i in indexes), Decimal(0))
    return taxes


def _optional_id(value, prop: str) -> int | None:
    return None if value is None else _int_id(value, prop)


def _parse_date(value, code: str, prop: str = "date") -> date:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise _bad(code, prop) from None


def _datetime_text(d: str) -> str:
    return f"{d}T00:00:00"


def _round(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


def _vat_totals(lines: list[tuple[str, Decimal, Decimal | None]], in_ex: str):
    """VAT per code over summed rows: ``lines`` are (vatCode, amount, vatAmount-for-AFW).

    Returns (total excl, total VAT, total incl, [{"vatCode", "amount"}]).
    """
    by_code: dict[str, Decimal] = {}
    fixed: dict[str, Decimal] = {}
    for code, amount, vat_amount in lines:
        by_code[code] = by_code.get(code, Decimal(0)) + amount
        if vat_amount is not None:
            fixed[code] = fixed.get(code, Decimal(0)) + vat_amount
    excl = vat_total = Decimal(0)
    vat: list[dict] = []
    for code, amount in by_code.items():
        rate = ALL_VAT.get(code)
        if rate is None:  # divergent VAT: the amount the caller gave
            tax = _round(fixed.get(code, Decimal(0)))
        elif in_ex == "IN":
            tax = _round(amount * rate / (100 + rate))
        else:
            tax = _round(amount * rate / 100)
        excl += amount - tax if in_ex == "IN" else amount
        vat_total += tax
        if tax:
            vat.append({"vatCode": code, "amount": tax})
    return _round(excl), _round(vat_total), _round(excl + vat_total), vat


# -- list filters ---------------------------------------------------------------------------

def _filters(name: str) -> list[tuple[str, str]]:
    """The ``param`` / ``param[op]`` filters given for ``name`` (the API allows one each)."""
    found = []
    for key, value in request.args.items():
        if key == name:
            found.append(("eq", value))
        else:
            m = re.fullmatch(re.escape(name) + r"\[(\w+)\]", key)
            if m:
                found.append((m.group(1), value))
    return found


def _like(pattern: str, value: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL) is not None


def _match(value, op: str, arg: str, kind: str = "str") -> bool:
    if kind == "str":
        text = "" if value is None else str(value)
        if op == "eq":
            return text.casefold() == arg.casefold()
        if op == "not_eq":
            return text.casefold() != arg.casefold()
        if op == "like":
            return _like(arg, text)
        if op == "not_like":
            return not _like(arg, text)
        raise _bad("ERR_002", None, f"Filter {op} is not supported on text.")
    convert = (lambda v: Decimal(str(v))) if kind == "num" else (lambda v: str(v)[:10])
    try:
        if op == "range":
            low, high = (convert(part) for part in arg.split(",", 1))
            return low <= convert(value) <= high
        target = convert(arg)
    except (InvalidOperation, ValueError):
        raise _bad("ERR_002", None, f"Invalid filter value {arg!r}.") from None
    if value is None:
        return False
    mine = convert(value)
    ops = {"eq": mine == target, "not_eq": mine != target, "gt": mine > target,
           "gte": mine >= target, "lt": mine < target, "lte": mine <= target}
    if op not in ops:
        raise _bad("ERR_002", None, f"Filter {op} is not supported.")
    return ops[op]


def _eq(name: str) -> str | None:
    """The value of a plain ``name=value`` filter, for an index to narrow the rows by; the
    full filters still run over what it finds (:func:`_select`)."""
    return request.args.get(name)


def _key(value) -> str:
    """What an ``eq`` text filter compares (:func:`_match`): None as "", casefolded."""
    return ("" if value is None else str(value)).casefold()


def _select(rows: list[dict], fields: dict[str, str]) -> list[dict]:
    """Rows matching every filter in the query for ``fields`` (name -> kind)."""
    for name, kind in fields.items():
        for op, arg in _filters(name):
            rows = [r for r in rows if _match(r.get(name), op, arg, kind)]
    return rows


def _page(rows: list[dict]) -> Response:
    try:
        limit = int(request.args.get("limit", 100))
    except ValueError:
        raise _bad("PAGE_001", "limit") from None
    try:
        offset = int(request.args.get("offset", 0))
    except ValueError:
        raise _bad("PAGE_002", "offset") from None
    if not 1 <= limit <= 2000:
        raise _bad("PAGE_001", "limit")
    if offset < 0:
        raise _bad("PAGE_002", "offset")
    items = rows[offset:offset + limit]
    return _json_response({"items": items, "count": len(items)})


# -- the state of one administration --------------------------------------------------------

@dataclass
class Ledger:
    id: int
    code: str
    description: str
    category: str
    group: str = ""


class Administration:
    """Everything one e-Boekhouden administration holds; guarded by ``lock``."""

    def __init__(self, api_token: str, seed: int) -> None:
        self.lock = threading.RLock()
        self.initial_token = api_token
        self.seed = seed
        self.sessions: dict[str, float] = {}  # session token -> expiry (fake clock)
        self.clock_offset = 0.0
        self.requests: list[dict] = []
        self.reset()

    def reset(self) -> None:
        """Back to the seeded administration. Open sessions survive: a reset is about data."""
        with self.lock:
            self.rng = random.Random(self.seed)
            self.api_token = self.initial_token
            self.token_expired = False
            self.ledgers: dict[int, Ledger] = {}
            self.relations: dict[int, dict] = {}
            self.mutations: list[dict] = []
            self.invoices: list[dict] = []
            self.templates: list[dict] = []
            self.cost_centers: dict[int, dict] = {}
            self.options: dict = {}  # see OPTIONS
            # Indexes of what the API looks up, so a call costs the same at 200 stored
            # documents as at 20,000; keys are casefolded, as the API compares text.
            self.relation_by_code: dict[str, int] = {}
            self.relations_by_email: dict[str, list[int]] = {}
            self.mutation_by_id: dict[int, dict] = {}
            self.mutations_by_number: dict[str, list[dict]] = {}
            self.payments_by_number: dict[str, list[dict]] = {}  # by their rows' numbers
            self.payment_references: set[str] = set()
            self.invoice_by_id: dict[int, dict] = {}
            self.invoices_by_number: dict[str, list[dict]] = {}
            self.invoices_by_relation: dict[int, list[dict]] = {}
            self.requests.clear()
            self._next_ledger_id = 48086600 + self.rng.randrange(100)
            self._next_relation_id = 68216300 + self.rng.randrange(100)
            self._next_invoice_id = 64701400 + self.rng.randrange(100)
            self._next_template_id = 1486700 + self.rng.randrange(100)
            self._next_cost_center_id = 30100 + self.rng.randrange(100)
            self._next_mutation_id = 1
            self._next_relation_code = 1001
            self._next_invoice_number = 1
            for code, description, category, group in DEFAULT_CHART:
                self.add_ledger(code, description, category, group)
            for name, active, kind in DEFAULT_TEMPLATES:
                self.add_template(name, active, kind)

    def now(self) -> float:
        return time.time() + self.clock_offset

    # ids look like the real ones: large, increasing with gaps, never equal to a code
    def _new_id(self, attr: str) -> int:
        value = getattr(self, attr)
        setattr(self, attr, value + 1 + self.rng.randrange(7))
        return value

    def add_ledger(self, code: str, description: str, category: str, group: str = "") -> Ledger:
        ledger = Ledger(self._new_id("_next_ledger_id"), code, description, category, group)
        self.ledgers[ledger.id] = ledger
        return ledger

    def add_template(self, name: str, active: bool = True, kind: str = "E") -> dict:
        template = {"id": self._new_id("_next_template_id"), "name": name, "active": active,
                    "type": kind}
        self.templates.append(template)
        return template

    def ledger_by_code(self, code: str) -> Ledger | None:
        return next((l for l in self.ledgers.values() if l.code.casefold() == code.casefold()),
                    None)

    # -- sessions -------------------------------------------------------------------------

    def open_session(self) -> tuple[str, int]:
        token = secrets.token_urlsafe(32)
        self.sessions[token] = self.now() + SESSION_SECONDS
        return token, SESSION_SECONDS

    def session_valid(self, token: str) -> bool:
        expiry = self.sessions.get(token)
        return expiry is not None and self.now() < expiry

    # -- relations ------------------------------------------------------------------------

    def create_relation(self, body: dict) -> dict:
        if not isinstance(body, dict):
            raise _bad("DATA_01")
        fields = self._relation_fields(body, None)
        code = fields.get("code") or self._generated_relation_code()
        # The live API answers "" for a text it was not given, never null.
        relation = {field: "" if field in RELATION_TEXT else None for field in RELATION_FIELDS}
        relation.update(fields)
        relation.update(id=self._new_id("_next_relation_id"), type=fields.get("type") or "B",
                        code=code, date=_datetime_text(date.today().isoformat()),
                        isClubOrAssociationMember=0)
        self.relations[relation["id"]] = relation
        self._index_relation(relation)
        return relation

    def _index_relation(self, relation: dict) -> None:
        self.relation_by_code[relation["code"].casefold()] = relation["id"]
        self.relations_by_email.setdefault(_key(relation.get("emailAddress")), []).append(
            relation["id"])

    def _unindex_relation(self, relation: dict) -> None:
        del self.relation_by_code[relation["code"].casefold()]
        self.relations_by_email[_key(relation.get("emailAddress"))].remove(relation["id"])

    def relations_matching(self, code: str | None, email: str | None):
        """The relations an ``eq`` filter on code or e-mail can match (all without one)."""
        if code is not None:
            found = self.relation_by_code.get(code.casefold())
            return [self.relations[found]] if found is not None else []
        if email is not None:
            return [self.relations[i] for i in self.relations_by_email.get(email.casefold(), [])]
        return list(self.relations.values())

    def update_relation(self, relation_id: int, body: dict) -> None:
        """``PATCH /v1/relation/{id}``: only the fields given change."""
        relation = self.relations.get(relation_id)
        if relation is None:
            raise ApiError(404, "REL_055")
        if not isinstance(body, dict) or not body:
            raise _bad("DATA_01")
        fields = self._relation_fields(body, relation_id)
        self._unindex_relation(relation)
        relation.update(fields)
        self._index_relation(relation)

    def _relation_fields(self, body: dict, own_id: int | None) -> dict:
        """The relation fields of ``body``, checked and with numbers as numbers; a create
        (``own_id`` None) needs a name, an update only checks what it is given."""
        fields = {field: body[field] for field in RELATION_FIELDS if field in body}
        if own_id is None or "name" in body:
            name = body.get("name")
            if not isinstance(name, str) or not name.strip():
                raise _bad("REL_002", "name")
        if "type" in body and (body.get("type") or "B") not in ("B", "P"):
            raise _bad("REL_001", "type")
        if body.get("gender") not in (None, "", "m", "v", "a"):
            raise _bad("REL_004", "gender")
        for field, (limit, code) in RELATION_LIMITS.items():
            value = body.get(field)
            if value is not None and not isinstance(value, str):
                raise _bad("ERR_002", field, "A string is expected.")
            if value and len(value) > limit:
                raise _bad(code, field)
        for field, code in (("emailAddress", "REL_023"), ("emailAddressInvoice", "REL_025"),
                            ("emailAddressReminder", "REL_027")):
            if body.get(field) and not EMAIL_PATTERN.match(body[field]):
                raise _bad(code, field)
        kvk = body.get("companyRegistrationNumber")
        if kvk and not kvk.isdigit():
            raise _bad("REL_008", "companyRegistrationNumber")
        if body.get("termOfPayment") is not None:
            term = fields["termOfPayment"] = _int_id(body["termOfPayment"], "termOfPayment")
            if term < 0:
                raise _bad("REL_030", "termOfPayment")
            if term > 365:
                raise _bad("REL_031", "termOfPayment")
        if body.get("mandateType") not in (None, "", "E", "D"):
            raise _bad("REL_051", "mandateType")
        if body.get("ledgerId") is not None:
            fields["ledgerId"] = _int_id(body["ledgerId"], "ledgerId")
            if fields["ledgerId"] not in self.ledgers:
                raise _bad("REL_048", "ledgerId")
        code = body.get("code") or ""
        if code:
            # Guess: printable ASCII without surrounding blanks (the real rule is not public).
            if code != code.strip() or not all(32 <= ord(c) < 127 for c in code):
                raise _bad("REL_005", "code")
            if self.relation_by_code.get(code.casefold(), own_id) != own_id:
                raise _bad("REL_049", "code")
        elif "code" in fields:
            del fields["code"]  # an empty code keeps (or, on create, generates) one
        if not fields.get("type"):
            fields.pop("type", None)
        for field in RELATION_TEXT:
            if fields.get(field, "") is None:
                fields[field] = ""
        return fields

    def _generated_relation_code(self) -> str:
        # Guess: the real format is unknown; a plain sequence never collides with R6.4's codes.
        while str(self._next_relation_code) in self.relation_by_code:
            self._next_relation_code += 1
        code = str(self._next_relation_code)
        self._next_relation_code += 1
        return code

    # -- mutations ------------------------------------------------------------------------

    def _ledger(self, value, prop: str, unknown_code: str) -> Ledger:
        ledger = self.ledgers.get(_int_id(value, prop))
        if ledger is None:
            raise _bad(unknown_code, prop)
        return ledger

    def _relation(self, value, prop: str, unknown_code: str) -> dict:
        relation = self.relations.get(_int_id(value, prop))
        if relation is None:
            raise _bad(unknown_code, prop)
        return relation

    def sales_number_taken(self, number: str) -> bool:
        return any(m["type"] == 2 for m in self.mutations_by_number.get(number.casefold(), ()))

    def mutations_numbered(self, number: str | None) -> list[dict]:
        """The mutations an ``eq`` filter on the invoice number can match (all without one)."""
        if number is None:
            return list(self.mutations)
        return list(self.mutations_by_number.get(number.casefold(), ()))

    def _add_mutation(self, mutation: dict) -> None:
        self.mutations.append(mutation)
        self.mutation_by_id[mutation["id"]] = mutation
        self.mutations_by_number.setdefault(mutation["invoiceNumber"].casefold(), []).append(
            mutation)
        if mutation["type"] in (3, 4):
            for number in {r["invoiceNumber"].casefold() for r in mutation["rows"]}:
                self.payments_by_number.setdefault(number, []).append(mutation)
        if mutation["paymentReference"]:
            self.payment_references.add(mutation["paymentReference"])

    def create_mutation(self, body: dict) -> dict:
        if not isinstance(body, dict) or not body:
            raise _bad("DATA_01")
        raw_type = body.get("type")
        if raw_type in (None, ""):
            raise _bad("MUTA_002", "type")
        try:  # the spec's generator sends "2", some clients 2: accept both
            kind = int(str(raw_type))
        except ValueError:
            raise _bad("MUTA_009", "type") from None
        if not 1 <= kind <= 7:
            raise _bad("MUT_001", "type")
        if not body.get("date"):
            raise _bad("MUT_003", "date")
        day = _parse_date(body["date"], "MUT_004")
        if body.get("ledgerId") is None:
            raise _bad("MUTA_001", "ledgerId")
        header = self._ledger(body["ledgerId"], "ledgerId", "MUT_007")
        wanted = {1: "CRED", 2: "DEB"}.get(kind, "FIN" if kind <= 6 else None)
        if wanted and header.category != wanted:
            raise _bad({"CRED": "MUT_010", "DEB": "MUT_011"}.get(wanted, "MUT_009"), "ledgerId")
        number = body.get("invoiceNumber") or ""
        if not isinstance(number, str):
            raise _bad("ERR_002", "invoiceNumber")
        if kind in (1, 2) and not number:
            raise _bad("MUT_002", "invoiceNumber")
        if len(number) > 50:
            raise _bad("MUT_018", "invoiceNumber")
        term = None
        if body.get("termOfPayment") is not None:
            if kind not in (1, 2):
                raise _bad("MUT_016", "termOfPayment")
            term = _int_id(body["termOfPayment"], "termOfPayment")
        description = body.get("description") or ""
        if len(description) > 50:
            raise _bad("ERR_002", "description", "Description is too long (max 50).")
        if len(body.get("entryNumber") or "") > 50:
            raise _bad("ERR_002", "entryNumber", "Entry number is too long (max 50).")
        in_ex = body.get("inExVat")
        if in_ex in (None, ""):
            if kind in (1, 2, 5, 6):
                raise _bad("MUTA_005", "inExVat")
            in_ex = "EX"
        if in_ex not in ("IN", "EX"):
            raise _bad("MUT_017", "inExVat")
        relation = None
        if body.get("relationId") is not None:
            relation = self._relation(body["relationId"], "relationId", "MUT_013")
        elif kind in (1, 2):
            raise _bad("MUT_012", "relationId")
        rows = self._mutation_rows(kind, body.get("rows"), in_ex, relation)
        # uniqueness last, so a rejected body never hides behind a duplicate
        if kind == 2 and self.sales_number_taken(number):
            raise _bad("MUT_019", "invoiceNumber")
        if kind == 1 and any(m["type"] == 1 and m["relationId"] == relation["id"]
                             for m in self.mutations_by_number.get(number.casefold(), ())):
            raise _bad("MUT_020", "invoiceNumber")
        reference = body.get("paymentReference") or ""
        if (body.get("checkPaymentReference") and reference
                and reference in self.payment_references):
            raise _bad("MUTA_008", "paymentReference")
        lines = [(r["vatCode"], r["amount"], r.get("vatAmount")) for r in rows]
        excl, vat_total, incl, vat = _vat_totals(lines, in_ex)
        if kind in (3, 4, 7):  # no VAT on payments; memorial rows are plain postings
            incl = _round(sum((r["amount"] for r in rows), Decimal(0)))
        mutation = {
            "id": self._next_mutation_id, "type": kind, "date": day.isoformat(),
            "description": description, "termOfPayment": term,
            "ledgerId": header.id, "relationId": relation["id"] if relation else None,
            "inExVat": in_ex, "invoiceNumber": number, "entryNumber": body.get("entryNumber") or "",
            "paymentReference": reference, "rows": rows, "vat": vat,
            "totalExcl": excl, "vatAmount": vat_total, "totalAmount": incl,
        }
        self._next_mutation_id += 1
        self._add_mutation(mutation)
        return mutation

    # What a person does in e-Boekhouden's own screens (its API can neither change nor
    # delete a mutation): how a test or the demo makes the ledger differ from koppel.

    def delete_mutation(self, mutation_id: int) -> dict:
        mutation = self.mutation_by_id.pop(mutation_id)
        self.mutations.remove(mutation)
        self.mutations_by_number[mutation["invoiceNumber"].casefold()].remove(mutation)
        for payments in self.payments_by_number.values():
            if mutation in payments:
                payments.remove(mutation)
        self.payment_references.discard(mutation["paymentReference"])
        return mutation

    def edit_mutation(self, mutation_id: int, body: dict) -> dict:
        """New ``date`` and/or ``rows`` (the wire's shape, as on a POST); totals follow."""
        mutation = self.mutation_by_id[mutation_id]
        if body.get("date"):
            mutation["date"] = _parse_date(body["date"], "MUT_004").isoformat()
        if body.get("rows") is not None:
            relation = self.relations.get(mutation["relationId"])
            rows = self._mutation_rows(mutation["type"], body["rows"], mutation["inExVat"],
                                       relation)
            lines = [(r["vatCode"], r["amount"], r.get("vatAmount")) for r in rows]
            excl, vat_total, incl, vat = _vat_totals(lines, mutation["inExVat"])
            mutation.update(rows=rows, vat=vat, totalExcl=excl, vatAmount=vat_total,
                            totalAmount=incl)
        return mutation

    def _mutation_rows(self, kind: int, rows, in_ex: str, relation: dict | None) -> list[dict]:
        if not rows:
            raise _bad("MUT_100", "rows")
        if not isinstance(rows, list):
            raise _bad("ERR_002", "rows")
        if len(rows) > 500:
            raise _bad("MUT_101", "rows")
        result = []
        for i, row in enumerate(rows):
            at = f"rows[{i}]"
            if not isinstance(row, dict):
                raise _bad("ERR_002", at)
            vat_code = row.get("vatCode")
            if vat_code not in ALL_VAT:
                raise _bad("MUT_109", f"{at}.vatCode")
            if kind in (2, 5) and vat_code in PURCHASE_VAT:
                raise _bad("MUT_111", f"{at}.vatCode")
            if kind in (1, 6) and vat_code in SALE_VAT:
                raise _bad("MUT_110", f"{at}.vatCode")
            if kind in (3, 4) and vat_code != NO_VAT:
                raise _bad("MUT_109", f"{at}.vatCode", "Payments carry no VAT: use GEEN.")
            vat_amount = None
            if row.get("vatAmount") is not None:
                if vat_code not in ("AFW", "AFW_VERK"):
                    raise _bad("MUTA_003", f"{at}.vatAmount")
                vat_amount = _money(row["vatAmount"], f"{at}.vatAmount")
            if "amount" not in row:
                raise _bad("ERR_002", f"{at}.amount", "Amount is required.")
            amount = _money(row["amount"], f"{at}.amount")
            ledger = None
            if row.get("ledgerId") is not None:
                ledger = self._ledger(row["ledgerId"], f"{at}.ledgerId", "MUT_104")
            elif kind in (1, 2, 5, 6, 7):
                raise _bad("MUTA_004", f"{at}.ledgerId")
            if ledger and kind in (1, 2, 5, 6) and ledger.category in CONTROL_CATEGORIES:
                raise _bad("MUT_106", f"{at}.ledgerId")
            if ledger and kind == 3 and ledger.category != "DEB":
                raise _bad("MUT_108", f"{at}.ledgerId")
            if ledger and kind == 4 and ledger.category != "CRED":
                raise _bad("MUT_107", f"{at}.ledgerId")
            row_number = row.get("invoiceNumber") or ""
            row_relation = None
            if row.get("relationId") is not None:
                row_relation = self._relation(row["relationId"], f"{at}.relationId", "MUT_113")
            if kind in (3, 4):
                if not row_number:
                    raise _bad("MUT_120", f"{at}.invoiceNumber")
                if row_relation is None:
                    raise _bad("MUT_112", f"{at}.relationId")
                item = self._open_item(1 if kind == 4 else 2, row_number, row_relation["id"])
                if item is None:
                    raise _bad("MUT_115", f"{at}.invoiceNumber")
                if ledger is None:  # settle against the ledger the invoice was booked on
                    ledger = self.ledgers[item["ledgerId"]]
            result.append({
                "ledgerId": ledger.id if ledger else None, "vatCode": vat_code,
                **({"vatAmount": vat_amount} if vat_amount is not None else {}),
                "costCenterId": self._cost_center(row.get("costCenterId"), f"{at}.costCenterId"),
                "amount": amount,
                "description": row.get("description") or "", "invoiceNumber": row_number,
                "relationId": row_relation["id"] if row_relation else None,
            })
        if kind == 7 and sum((r["amount"] for r in result), Decimal(0)) != 0:
            raise _bad("MUT_118", "rows")
        return result

    def _open_item(self, kind: int, number: str, relation_id: int | None) -> dict | None:
        for m in self.mutations_by_number.get(number.casefold(), ()):
            if m["type"] == kind and (relation_id is None or m["relationId"] == relation_id):
                return m
        return None

    def outstanding(self, cred_deb: str, number: str | None = None) -> list[dict]:
        """The open items, or (``number`` given) those an ``eq`` filter on it can match."""
        invoice_type, payment_type = (2, 3) if cred_deb == "D" else (1, 4)
        invoices, payments = self.mutations, self.mutations
        if number is not None:
            invoices = self.mutations_by_number.get(number.casefold(), [])
            payments = self.payments_by_number.get(number.casefold(), [])
        paid: dict[tuple, Decimal] = {}
        for m in payments:
            if m["type"] == payment_type:
                for row in m["rows"]:
                    key = (row["invoiceNumber"].casefold(), row["relationId"])
                    paid[key] = paid.get(key, Decimal(0)) + row["amount"]
        items = []
        for m in invoices:
            if m["type"] != invoice_type:
                continue
            done = paid.get((m["invoiceNumber"].casefold(), m["relationId"]), Decimal(0))
            if done == m["totalAmount"]:
                continue  # settled items leave the list (guess; see the module docstring)
            relation = self.relations.get(m["relationId"]) or {}
            items.append({
                "date": _datetime_text(m["date"]), "mutationId": m["id"],
                "invoiceNumber": m["invoiceNumber"], "relationId": m["relationId"],
                "relationCode": relation.get("code"), "company": relation.get("name"),
                "totalAmount": m["totalAmount"], "paidAmount": done,
                "outstandingAmount": m["totalAmount"] - done,
            })
        return items

    # -- ledger balances ------------------------------------------------------------------

    def balances(self, start: str | None, end: str | None) -> dict[int, Decimal]:
        """The balance of every ledger (debit positive) over the mutations dated in
        [start, end]; every mutation's postings sum to zero, so all balances do too."""
        limit = self.options.get("balances_limit")
        if start is None and end is None and limit is not None and len(self.mutations) > limit:
            raise _bad("LEDG_020", "from")
        totals: dict[int, Decimal] = {}
        for m in self.mutations:
            if (start and m["date"] < start) or (end and m["date"] > end):
                continue
            for ledger_id, amount in self._postings(m):
                totals[ledger_id] = totals.get(ledger_id, Decimal(0)) + amount
        return totals

    def _postings(self, m: dict) -> list[tuple[int, Decimal]]:
        kind, rows = m["type"], m["rows"]
        if kind == 7:
            return [(r["ledgerId"], r["amount"]) for r in rows]
        if kind in (3, 4):  # a payment moves money between the bank and the open item
            sign = 1 if kind == 3 else -1
            return ([(m["ledgerId"], sign * m["totalAmount"])]
                    + [(r["ledgerId"], -sign * r["amount"]) for r in rows])
        sign = 1 if kind in (2, 5) else -1  # sales debit the header, purchases credit it
        taxes = _row_taxes(rows, m["inExVat"])
        postings = [(m["ledgerId"], sign * m["totalAmount"])]
        for row, tax in zip(rows, taxes):
            net = row["amount"] - tax if m["inExVat"] == "IN" else row["amount"]
            postings.append((row["ledgerId"], -sign * net))
            if tax:
                postings.append((self._vat_ledger(row["vatCode"]), -sign * tax))
        return postings

    def _vat_ledger(self, vat_code: str) -> int:
        rate = ALL_VAT.get(vat_code)
        category = ("VOOR" if vat_code in PURCHASE_VAT
                    else "AF19" if rate == 21 else "AF6" if rate == 9 else "AFOVERIG")
        return next(l.id for l in self.ledgers.values() if l.category == category)

    # -- cost centres ---------------------------------------------------------------------

    def _cost_center(self, value, prop: str) -> int | None:
        if value is None:
            return None
        center = _int_id(value, prop)
        if center not in self.cost_centers:
            raise _bad("MUT_117", prop)
        return center

    def create_cost_center(self, body) -> dict:
        if not isinstance(body, dict):
            raise _bad("DATA_01")
        parent = _optional_id(body.get("parentId"), "parentId")
        center = {"id": None, "description": None, "parentId": parent,
                  "active": body.get("active", True) is not False}
        self._check_cost_center(center, body)
        center["id"] = self._new_id("_next_cost_center_id")
        self.cost_centers[center["id"]] = center
        return center

    def update_cost_center(self, center_id: int, body) -> None:
        center = self.cost_centers.get(center_id)
        if center is None:
            raise ApiError(404, "COST_001")
        if not isinstance(body, dict) or not body:
            raise _bad("DATA_01")
        if "parentId" in body and _optional_id(body["parentId"], "parentId") != center["parentId"]:
            raise _bad("COST_006", "parentId")
        changed = dict(center, active=body.get("active", center["active"]) is not False)
        self._check_cost_center(changed, {"description": center["description"], **body})
        center.update(changed)

    def _check_cost_center(self, center: dict, body: dict) -> None:
        description = body.get("description")
        if not isinstance(description, str) or not description.strip():
            raise _bad("COST_003", "description")
        if len(description) > 50:
            raise _bad("COST_004", "description")
        parent = center["parentId"]
        if parent is not None:
            if parent not in self.cost_centers:
                raise _bad("COST_008", "parentId")
            if center["active"] and not self.cost_centers[parent]["active"]:
                raise _bad("COST_007", "parentId")
        if any(c["parentId"] == parent and c["id"] != center["id"]
               and c["description"].casefold() == description.casefold()
               for c in self.cost_centers.values()):
            raise _bad("COST_005", "description")
        center["description"] = description

    def cost_center_path(self, center: dict) -> str:
        # Guess: root first ("Inkoop>Voorraad"); the document's example is ambiguous.
        parts = [center["description"]]
        while center["parentId"] is not None:
            center = self.cost_centers[center["parentId"]]
            parts.insert(0, center["description"])
        return ">".join(parts)

    # -- invoices -------------------------------------------------------------------------

    def create_invoice(self, body: dict) -> dict:
        if not isinstance(body, dict) or not body:
            raise _bad("DATA_01")
        if body.get("relationId") is None:
            raise _bad("FACT_001", "relationId")
        relation = self._relation(body["relationId"], "relationId", "FACT_002")
        if relation.get("inactive"):
            raise _bad("FACT_003", "relationId")
        number = body.get("invoiceNumber") or ""
        if number:
            if not isinstance(number, str):
                raise _bad("FACT_008", "invoiceNumber")
            if len(number) > 50:
                raise _bad("FACT_007", "invoiceNumber")
            if not all(c.isalnum() or c in "-_./" for c in number):
                raise _bad("FACT_008", "invoiceNumber")
            if not number[-1].isdigit():
                raise _bad("FACT_009", "invoiceNumber")
        day = _parse_date(body["date"], "FACT_012") if body.get("date") else date.today()
        if body.get("termOfPayment") is None:
            raise _bad("FACT_015", "termOfPayment")
        term = _int_id(body["termOfPayment"], "termOfPayment")
        if not 0 <= term <= 365:
            raise _bad("FACT_016", "termOfPayment")
        template_id = body.get("templateId")
        if template_id is not None:
            template_id = _int_id(template_id, "templateId")
        if template_id is None or not any(t["id"] == template_id for t in self.templates):
            raise _bad("FACT_018", "templateId")
        in_ex = body.get("inExVat") or "EX"
        if in_ex not in ("IN", "EX"):
            raise _bad("FACT_010", "inExVat")
        if body.get("reference") and len(body["reference"]) > 50:
            raise _bad("ERR_002", "reference", "Reference is too long (max 50).")
        if body.get("text") and len(body["text"]) > 35000:
            raise _bad("FACT_017", "text")
        items = self._invoice_items(body.get("items"), in_ex)
        booking = body.get("mutation")
        header = None
        if booking is not None:
            if not isinstance(booking, dict):
                raise _bad("ERR_002", "mutation")
            if booking.get("ledgerId") is None:
                raise _bad("MUTA_001", "mutation.ledgerId")
            header = self._ledger(booking["ledgerId"], "mutation.ledgerId", "MUT_007")
            if header.category != "DEB":
                raise _bad("MUT_011", "mutation.ledgerId")
            if len(booking.get("description") or "") > 200:
                raise _bad("FACT_VERWERK_002", "mutation.description")
            reference = booking.get("paymentReference") or ""
            if len(reference) > 50:
                raise _bad("FACT_VERWERK_003", "mutation.paymentReference")
            if (booking.get("checkPaymentReference") and reference
                    and reference in self.payment_references):
                raise _bad("FACT_VERWERK_004", "mutation.paymentReference")
        if number and number.casefold() in self.invoices_by_number:
            raise _bad("FACT_101", "invoiceNumber")
        if not number:
            number = self._generated_invoice_number()
        if header is not None and self.sales_number_taken(number):
            raise _bad("MUT_019", "invoiceNumber")
        lines = [(i["vatCode"], i["lineTotal"], i.get("vatAmount")) for i in items]
        excl, vat_total, incl, _ = _vat_totals(lines, in_ex)
        lowest = self.options.get("min_invoice_total")
        if lowest is not None and incl < Decimal(str(lowest)):
            raise _bad("FACT_005", "items")
        invoice = {
            "id": self._new_id("_next_invoice_id"), "invoiceNumber": number,
            "relationId": relation["id"], "date": day.isoformat(),
            "reference": body.get("reference") or "", "text": body.get("text") or "",
            "termOfPayment": term, "inExVat": in_ex, "templateId": template_id,
            "emailTemplateId": body.get("emailTemplateId"), "print": bool(body.get("print")),
            "totalExcl": excl, "vatAmount": vat_total, "totalAmount": incl,
            "urlPdfFile": "", "items": items, "mutationId": None,
        }
        invoice["urlPdfFile"] = f"https://secure.e-boekhouden.nl/pdf/{invoice['id']}.pdf"
        if header is not None:
            # Booking the invoice: a type-2 mutation whose open item is the invoice total.
            mutation = {
                "id": self._next_mutation_id, "type": 2, "date": day.isoformat(),
                "description": booking.get("description") or f"Factuur {number}",
                "termOfPayment": term, "ledgerId": header.id, "relationId": relation["id"],
                "inExVat": in_ex, "invoiceNumber": number, "entryNumber": "",
                "paymentReference": booking.get("paymentReference") or "",
                "rows": [{"ledgerId": i["ledgerId"], "vatCode": i["vatCode"],
                          "costCenterId": i.get("costCenterId"), "amount": i["lineTotal"],
                          "description": i["description"], "invoiceNumber": "",
                          "relationId": None} for i in items],
                "vat": _vat_totals(lines, in_ex)[3],
                "totalExcl": excl, "vatAmount": vat_total, "totalAmount": incl,
            }
            self._next_mutation_id += 1
            self._add_mutation(mutation)
            invoice["mutationId"] = mutation["id"]
        self.invoices.append(invoice)
        self.invoice_by_id[invoice["id"]] = invoice
        self.invoices_by_number.setdefault(number.casefold(), []).append(invoice)
        self.invoices_by_relation.setdefault(invoice["relationId"], []).append(invoice)
        return invoice

    def invoices_matching(self, number: str | None, relation_id: str | None) -> list[dict]:
        """The invoices an ``eq`` filter on number or relation can match (all without one)."""
        if number is not None:
            return list(self.invoices_by_number.get(number.casefold(), ()))
        if relation_id is not None and relation_id.isdigit():
            return list(self.invoices_by_relation.get(int(relation_id), ()))
        return list(self.invoices)

    def _generated_invoice_number(self) -> str:
        while (f"f{self._next_invoice_number:05d}" in self.invoices_by_number
               or f"f{self._next_invoice_number:05d}" in self.mutations_by_number):
            self._next_invoice_number += 1
        number = f"F{self._next_invoice_number:05d}"
        self._next_invoice_number += 1
        return number

    def _invoice_items(self, items, in_ex: str) -> list[dict]:
        if not items or not isinstance(items, list):
            raise _bad("FACT_019", "items")
        if len(items) > 500:
            raise _bad("FACT_025", "items")
        lowest = self.options.get("min_item_total")
        result = []
        for i, item in enumerate(items):
            at = f"items[{i}]"
            if not isinstance(item, dict):
                raise _bad("ERR_002", at)
            description = item.get("description")
            if not description:
                raise _bad("FACT_ITEM_001", f"{at}.description")
            if len(description) > 1000:
                raise _bad("FACT_ITEM_002", f"{at}.description")
            if item.get("code") and len(item["code"]) > 50:
                raise _bad("FACT_ITEM_003", f"{at}.code")
            vat_code = item.get("vatCode")
            if not vat_code:
                raise _bad("FACT_ITEM_006", f"{at}.vatCode")
            if vat_code not in SALE_VAT and vat_code != NO_VAT:
                raise _bad("FACT_ITEM_014", f"{at}.vatCode")
            if item.get("ledgerId") is None:
                raise _bad("FACT_ITEM_007", f"{at}.ledgerId")
            ledger = self._ledger(item["ledgerId"], f"{at}.ledgerId", "FACT_ITEM_012")
            if item.get("pricePerUnit") is None:
                raise _bad("FACT_ITEM_005" if in_ex == "IN" else "FACT_ITEM_004",
                           f"{at}.pricePerUnit")
            price = _money(item["pricePerUnit"], f"{at}.pricePerUnit")
            raw_quantity = item.get("quantity", item.get("amount", 1))
            quantity = _number(raw_quantity, f"{at}.quantity").quantize(Decimal("0.0001"))
            discount_amount = item.get("discountAmount")
            discount_percentage = item.get("discountPercentage")
            if discount_amount is not None and discount_percentage is not None:
                raise _bad("FACT_ITEM_013", f"{at}.discountAmount")
            if discount_amount is not None:
                discount_amount = _money(discount_amount, f"{at}.discountAmount")
            if discount_percentage is not None:
                discount_percentage = _number(discount_percentage, f"{at}.discountPercentage")
            vat_amount = None
            if item.get("vatAmount") is not None:
                if vat_code != "AFW_VERK":
                    raise _bad("FACT_ITEM_015", f"{at}.vatAmount")
                vat_amount = _money(item["vatAmount"], f"{at}.vatAmount")
            unit = price
            if discount_amount is not None:
                unit -= discount_amount
            if discount_percentage is not None:
                unit -= unit * discount_percentage / 100
            result.append({
                "quantity": quantity, "description": description, "pricePerUnit": price,
                "vatCode": vat_code, "ledgerId": ledger.id, "code": item.get("code") or "",
                "unitId": _optional_id(item.get("unitId"), f"{at}.unitId"),
                "productId": _optional_id(item.get("productId"), f"{at}.productId"),
                "costCenterId": _optional_id(item.get("costCenterId"), f"{at}.costCenterId"),
                "discountAmount": discount_amount,
                "discountPercentage": discount_percentage,
                **({"vatAmount": vat_amount} if vat_amount is not None else {}),
                "lineTotal": _round(unit * quantity),
            })
            if lowest is not None and result[-1]["lineTotal"] < Decimal(str(lowest)):
                raise _bad("FACT_ITEM_009", f"{at}.pricePerUnit")
        return result


# -- the Flask app --------------------------------------------------------------------------

def _body() -> dict | list | None:
    raw = request.get_data()
    if not raw.strip():
        return None
    try:
        return json.loads(raw, parse_float=Decimal)
    except ValueError:
        raise _bad("ERR_002", None, "The body is not valid JSON.") from None


def _session_token() -> str:
    header = request.headers.get("Authorization", "").strip()
    if header.lower().startswith("bearer "):  # the spec says raw; third parties send Bearer
        header = header[7:].strip()
    return header


def _strip(record: dict, hidden: tuple[str, ...]) -> dict:
    return {k: v for k, v in record.items() if k not in hidden}


def create_app(*, api_token: str, seed: int = 1) -> Flask:
    app = Flask(__name__)
    admin = Administration(api_token, seed)
    app.extensions["eboekhouden"] = admin

    def authenticated(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            with admin.lock:
                if not admin.session_valid(_session_token()):
                    return Response(status=401)
                return view(*args, **kwargs)
        return wrapper

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return _problem(exc.status, exc.code, TITLES.get(exc.code, TITLES["ERR_001"]),
                        type_=exc.type, property_name=exc.property_name, message=exc.message,
                        security_type=exc.security_type)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        return _problem(exc.code or 500, None, exc.name)

    @app.errorhandler(Exception)
    def _crash(exc: Exception):
        app.logger.exception("sandbox e-Boekhouden crashed")
        return _problem(500, "ERR_001", TITLES["ERR_001"], type_="error")

    # Registered before the faults so it runs after them: the log shows the final status.
    @app.after_request
    def _log(response: Response):
        if request.path.startswith("/v1/"):
            with admin.lock:  # never the Authorization header, never a body
                admin.requests.append({"method": request.method, "path": request.path,
                                       "query": request.query_string.decode(),
                                       "status": response.status_code, "at": time.time()})
        return response

    faults = Faults(error_body, seed=seed)
    faults.init_app(app)
    app.extensions["faults"] = faults
    _register_api(app, admin, authenticated)
    _register_control(app, admin)
    return app


def _register_api(app: Flask, admin: Administration, authenticated) -> None:
    @app.post("/v1/session")
    def session_open():
        body = _body()
        if not isinstance(body, dict):
            raise _bad("DATA_01")
        source, token = body.get("source"), body.get("accessToken")
        if not source:
            raise _bad("API_SESSION_001", "source")
        if not isinstance(source, str) or not SOURCE_PATTERN.match(source):
            raise _bad("API_SESSION_002", "source")
        if not token or not isinstance(token, str):
            raise _bad("API_SESSION_003", "accessToken")
        with admin.lock:
            if not secrets.compare_digest(token, admin.api_token):
                raise ApiError(403, "SECURITY_001", type_="security", security_type=0)
            if admin.token_expired:
                raise ApiError(403, "API_SESSION_004", property_name="accessToken",
                               type_="security", security_type=1)
            session, expires_in = admin.open_session()
        return _json_response({"token": session, "expiresIn": expires_in})

    @app.delete("/v1/session")
    @authenticated
    def session_close():
        admin.sessions.pop(_session_token(), None)
        return Response(status=204)

    # -- ledgers ----------------------------------------------------------------------------

    def ledger_item(ledger: Ledger) -> dict:
        return asdict(ledger)

    @app.get("/v1/ledger")
    @authenticated
    def ledger_list():
        rows = [ledger_item(l) for l in sorted(admin.ledgers.values(), key=lambda l: l.code)]
        return _page(_select(rows, {"code": "str", "category": "str", "id": "num"}))

    @app.get("/v1/ledger/<int:ledger_id>")
    @authenticated
    def ledger_get(ledger_id: int):
        ledger = admin.ledgers.get(ledger_id)
        if ledger is None:
            raise ApiError(404, "LEDG_011")
        return _json_response(ledger_item(ledger))

    @app.post("/v1/ledger")
    @authenticated
    def ledger_create():
        ledger = _create_ledger(admin, _body())
        return _json_response({"id": ledger.id}, 201)

    def period() -> tuple[str | None, str | None]:
        bounds = []
        for name in ("from", "to"):
            value = request.args.get(name)
            bounds.append(_parse_date(value, "ERR_002", name).isoformat() if value else None)
        return bounds[0], bounds[1]

    def balance_item(ledger: Ledger, totals: dict) -> dict:
        return {"code": ledger.code, "type": ledger.category,
                "balance": totals.get(ledger.id, Decimal(0))}

    @app.get("/v1/ledger/<int:ledger_id>/balance")
    @authenticated
    def ledger_balance(ledger_id: int):
        ledger = admin.ledgers.get(ledger_id)
        if ledger is None:
            raise ApiError(404, "LEDG_011")
        return _json_response(balance_item(ledger, admin.balances(*period())))

    @app.get("/v1/ledger/balances")
    @authenticated
    def ledger_balances():
        totals = admin.balances(*period())
        rows = [balance_item(l, totals) for l in sorted(admin.ledgers.values(),
                                                        key=lambda l: l.code)]
        return _page(rows)

    # -- cost centres -----------------------------------------------------------------------

    @app.get("/v1/costcenter")
    @authenticated
    def cost_center_list():
        rows = [dict(c) for c in sorted(admin.cost_centers.values(), key=lambda c: c["id"])]
        return _page(_select(rows, {"parentId": "str", "description": "str"}))

    @app.post("/v1/costcenter")
    @authenticated
    def cost_center_create():
        center = admin.create_cost_center(_body())
        return _json_response({"id": center["id"], "active": center["active"]}, 201)

    @app.get("/v1/costcenter/<int:center_id>")
    @authenticated
    def cost_center_get(center_id: int):
        center = admin.cost_centers.get(center_id)
        if center is None:
            raise ApiError(404, "COST_001")
        return _json_response(dict(center, fullPath=admin.cost_center_path(center)))

    @app.patch("/v1/costcenter/<int:center_id>")
    @authenticated
    def cost_center_update(center_id: int):
        admin.update_cost_center(center_id, _body())
        return Response(status=204)

    # -- relations --------------------------------------------------------------------------

    @app.get("/v1/relation")
    @authenticated
    def relation_list():
        rows = sorted(admin.relations_matching(_eq("code"), _eq("email")), key=lambda r: r["id"])
        rows = [dict(r, email=r.get("emailAddress")) for r in rows]
        rows = _select(rows, {"code": "str", "type": "str", "email": "str", "name": "str",
                              "contact": "str", "city": "str", "id": "num"})
        return _page([{"id": r["id"], "type": r["type"], "code": r["code"]} for r in rows])

    @app.get("/v1/relation/<int:relation_id>")
    @authenticated
    def relation_get(relation_id: int):
        relation = admin.relations.get(relation_id)
        if relation is None:
            raise ApiError(404, "REL_055")
        return _json_response(relation)

    @app.post("/v1/relation")
    @authenticated
    def relation_create():
        relation = admin.create_relation(_body())
        return _json_response({"id": relation["id"], "code": relation["code"]}, 201)

    @app.patch("/v1/relation/<int:relation_id>")
    @authenticated
    def relation_update(relation_id: int):
        admin.update_relation(relation_id, _body())
        return Response(status=204)

    # -- invoices ---------------------------------------------------------------------------

    @app.get("/v1/invoicetemplate")
    @authenticated
    def template_list():
        return _page(list(admin.templates))

    @app.post("/v1/invoice")
    @authenticated
    def invoice_create():
        invoice = admin.create_invoice(_body())
        return _json_response({"id": invoice["id"], "invoiceNumber": invoice["invoiceNumber"],
                               "inExVat": invoice["inExVat"]}, 201)

    list_hidden = ("items", "inExVat", "emailTemplateId", "mutationId")

    @app.get("/v1/invoice")
    @authenticated
    def invoice_list():
        rows = _select(admin.invoices_matching(_eq("invoiceNumber"), _eq("relationId")),
                       {"invoiceNumber": "str", "relationId": "num",
                                              "date": "date", "id": "num"})
        return _page([dict(_strip(i, list_hidden), date=_datetime_text(i["date"]))
                      for i in rows])

    @app.get("/v1/invoice/<int:invoice_id>")
    @authenticated
    def invoice_get(invoice_id: int):
        invoice = admin.invoice_by_id.get(invoice_id)
        if invoice is None:
            raise ApiError(404, "FACT_021")
        shown = _strip(invoice, ("mutationId",))
        shown["items"] = [_strip(i, ("lineTotal",)) for i in invoice["items"]]
        return _json_response(shown)

    # -- mutations --------------------------------------------------------------------------

    @app.post("/v1/mutation")
    @authenticated
    def mutation_create():
        mutation = admin.create_mutation(_body())
        return _json_response({"id": mutation["id"]}, 201)

    @app.get("/v1/mutation")
    @authenticated
    def mutation_list():
        rows = _select(admin.mutations_numbered(_eq("invoiceNumber")),
                       {"type": "num", "id": "num", "description": "str",
                                               "invoiceNumber": "str", "date": "date"})
        return _page([{"id": m["id"], "type": m["type"], "date": _datetime_text(m["date"]),
                       "invoiceNumber": m["invoiceNumber"], "ledgerId": m["ledgerId"],
                       "amount": m["totalAmount"], "entryNumber": m["entryNumber"]}
                      for m in rows])

    @app.get("/v1/mutation/<int:mutation_id>")
    @authenticated
    def mutation_get(mutation_id: int):
        mutation = admin.mutation_by_id.get(mutation_id)
        if mutation is None:
            raise ApiError(404, "MUT_300")
        return _json_response(_public_mutation(mutation))

    @app.get("/v1/mutation/invoice/outstanding")
    @authenticated
    def outstanding_list():
        cred_deb = request.args.get("credDeb")
        if not cred_deb:
            raise _bad("MUTA_006", "credDeb")
        if cred_deb not in ("C", "D"):
            raise _bad("MUTA_007", "credDeb")
        return _page(_select(admin.outstanding(cred_deb, _eq("invoiceNumber")),
                             {"invoiceNumber": "str"}))


def _public_mutation(mutation: dict) -> dict:
    shown = _strip(mutation, ("paymentReference", "totalExcl", "vatAmount", "totalAmount"))
    shown["rows"] = [{k: v for k, v in row.items() if v not in (None, "")}
                     for row in mutation["rows"]]
    return shown


def _create_ledger(admin: Administration, body) -> Ledger:
    if not isinstance(body, dict):
        raise _bad("DATA_01")
    code, description = body.get("code"), body.get("description")
    if not code:
        raise _bad("LEDG_001", "code")
    if len(str(code)) > 10:
        raise _bad("LEDG_002", "code")
    if not description:
        raise _bad("LEDG_003", "description")
    if len(description) > 100:
        raise _bad("LEDG_004", "description")
    category = body.get("category")
    if not category:
        raise _bad("LEDG_005", "category")
    if category not in CATEGORIES:
        raise _bad("LEDG_010", "category")
    with admin.lock:
        if admin.ledger_by_code(str(code)):
            raise _bad("LEDG_013", "code")
        return admin.add_ledger(str(code), description, category, body.get("group") or "")


def _register_control(app: Flask, admin: Administration) -> None:
    """``/__sandbox/``: how tests and the demo drive the fake (never through its internals)."""

    def _ledger_code(ledger_id):
        ledger = admin.ledgers.get(ledger_id)
        return ledger.code if ledger else None

    @app.get("/__sandbox/mutations")
    def control_mutations():
        with admin.lock:  # with ledger codes beside the ids, so tests read like a ledger
            out = []
            for m in admin.mutations:
                shown = dict(m, ledgerCode=_ledger_code(m["ledgerId"]))
                shown["rows"] = [dict(r, ledgerCode=_ledger_code(r["ledgerId"]))
                                 for r in m["rows"]]
                out.append(shown)
            return _json_response(out)

    @app.delete("/__sandbox/mutations/<int:mutation_id>")
    def control_mutation_delete(mutation_id: int):
        with admin.lock:
            if mutation_id not in admin.mutation_by_id:
                raise ApiError(404, "MUT_300")
            admin.delete_mutation(mutation_id)
        return _json_response({"deleted": mutation_id})

    @app.patch("/__sandbox/mutations/<int:mutation_id>")
    def control_mutation_edit(mutation_id: int):
        body = _body()
        with admin.lock:
            if mutation_id not in admin.mutation_by_id:
                raise ApiError(404, "MUT_300")
            if not isinstance(body, dict):
                raise _bad("DATA_01")
            return _json_response(_public_mutation(admin.edit_mutation(mutation_id, body)))

    @app.get("/__sandbox/relations")
    def control_relations():
        with admin.lock:
            return _json_response(sorted(admin.relations.values(), key=lambda r: r["id"]))

    @app.post("/__sandbox/relations")
    def control_relations_add():
        body = _body()
        with admin.lock:
            made = [admin.create_relation(r) for r in (body if isinstance(body, list) else [body])]
        return _json_response([{"id": r["id"], "code": r["code"]} for r in made], 201)

    @app.get("/__sandbox/invoices")
    def control_invoices():
        with admin.lock:
            return _json_response([dict(i, items=[dict(it, ledgerCode=_ledger_code(it["ledgerId"]))
                                                  for it in i["items"]])
                                   for i in admin.invoices])

    @app.get("/__sandbox/ledgers")
    def control_ledgers():
        with admin.lock:
            return _json_response([asdict(l) for l in admin.ledgers.values()])

    @app.post("/__sandbox/ledgers")
    def control_ledgers_add():
        body = _body()
        made = [_create_ledger(admin, l) for l in (body if isinstance(body, list) else [body])]
        return _json_response([asdict(l) for l in made], 201)

    @app.post("/__sandbox/templates")
    def control_templates_add():
        body = _body() or {}
        with admin.lock:
            template = admin.add_template(body["name"], bool(body.get("active", True)),
                                          body.get("type", "E"))
        return _json_response(template, 201)

    @app.post("/__sandbox/reset")
    def control_reset():
        admin.reset()
        app.extensions["faults"].clear()
        return _json_response({"reset": True})

    @app.post("/__sandbox/token/expire")
    def control_token_expire():
        # The API token passed its end date: no new sessions, and the open ones stop working.
        with admin.lock:
            admin.token_expired = True
            admin.sessions.clear()
        return _json_response({"token_expired": True})

    @app.post("/__sandbox/token/renew")
    def control_token_renew():
        body = _body() or {}
        with admin.lock:
            admin.token_expired = False
            if body.get("api_token"):  # the merchant made a new token
                admin.api_token = body["api_token"]
        return _json_response({"token_expired": False})

    @app.post("/__sandbox/sessions/expire")
    def control_sessions_expire():
        with admin.lock:
            count = len(admin.sessions)
            admin.sessions.clear()
        return _json_response({"expired": count})

    add_clock_and_request_log(app, admin)
    add_options(app, admin, OPTIONS)


# -- several administrations behind one address -----------------------------------------------

class Administrations:
    """Several e-Boekhouden administrations behind one API address, as the real API has them:
    the access token a session is opened with chooses the administration, and the session
    token then carries it. Each administration is a whole fake of its own (its data, its
    faults); the control endpoints (``/__sandbox/...``) reach the one named by the header
    ``X-Sandbox-Administration`` (its access token), by default the first."""

    HEADER = "HTTP_X_SANDBOX_ADMINISTRATION"

    def __init__(self, api_tokens: list[str], seed: int = 1) -> None:
        self.apps = {token: create_app(api_token=token, seed=seed + number)
                     for number, token in enumerate(api_tokens)}
        self.first = self.apps[api_tokens[0]]
        self._sessions: dict[str, Flask] = {}
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        import io

        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        path = environ.get("PATH_INFO", "")
        if path.startswith("/__sandbox"):
            app = self.apps.get(environ.get(self.HEADER, ""), self.first)
            return app(environ, start_response)
        if path == "/v1/session" and environ.get("REQUEST_METHOD") == "POST":
            try:
                token = json.loads(body or b"{}").get("accessToken")
            except (ValueError, AttributeError):
                token = None
            app = self.apps.get(token, self.first) if isinstance(token, str) else self.first
            answer = app(environ, start_response)
            data = b"".join(answer)
            getattr(answer, "close", lambda: None)()
            try:
                session = json.loads(data).get("token")
            except (ValueError, AttributeError):
                session = None
            if session:
                with self._lock:
                    self._sessions[session] = app
            return [data]
        header = environ.get("HTTP_AUTHORIZATION", "").strip()
        if header.lower().startswith("bearer "):
            header = header[7:].strip()
        with self._lock:
            app = self._sessions.get(header, self.first)
        return app(environ, start_response)
