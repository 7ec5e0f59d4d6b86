"""A faithful local fake of the Billit REST API (api.billit.be, ``/v1``).

Wire format: ``/work/shared/reference/billit-api.md``. Where the notes mark a fact as unknown
the fake takes the documented best guess, and is strict where strictness catches client bugs.
The choices, in one place:

- auth: ``ApiKey`` header or ``Authorization: Bearer``; a 401 carries ``ApiKeyNotValid``,
  ``InvalidAccessToken``, ``AccessTokenExpired`` or ``AccessTokenRevoked``; no credentials at
  all is ``InvalidAccessToken``. ``PartyID`` is optional (the default company is used) but a
  PartyID this user cannot access is a 401 ``NoAccessToParty`` (docs: 401 for a foreign
  PartyID; the code name is ours);
- OAuth2: ``GET /Account/Logon`` stands in for my.billit.be and auto-approves (redirects back
  with ``code`` and ``state``; ``error=access_denied`` when the control API says deny); codes
  are single-use and live 10 minutes; ``POST /OAuth2/token`` takes JSON; access tokens live
  ``expires_in`` = 3600 s; refresh tokens never expire but are single-use: a used, revoked or
  unknown refresh token (or a wrong client) is refused with 400 and, since the notes give no
  body, Billit's own envelope plus RFC 6749's ``error`` key:
  ``{"error": "invalid_grant", "errors": [{"Code": "InvalidGrant", "Description": ...}]}``;
- ``POST /v1/orders`` answers 200 with a bare integer; ``Idempotency-Key`` (and the
  ``Idempotent-Key`` spelling) is stored only after a success, and any later use of the key,
  same body or not, is 409 ``Idempotent token already exists`` (the notes' semantics);
- validation collects every error (Billit answers a list) with the documented codes; codes the
  notes do not know are ``GenericError`` with a description; amounts must be JSON numbers and
  ``ProductID`` an integer id of an existing product (a product *code* there is a client bug);
  a VAT percentage must be a rate some EU country uses (catches 0.21 for 21); an order whose
  total is negative is refused (Billit wants positive amounts and ``OrderType`` CreditNote);
- totals are Billit's: per line rounded to cents, VAT per VAT rate over the summed amounts,
  half-up; with ``InclLeading`` the incl. amount leads, so the shop's gross total survives;
  unit prices keep 2 decimals (Billit's default precision);
- ``AboutInvoiceNumber`` must name an invoice in this company: 400
  ``TheAboutInvoiceNumberCouldNotBeFound`` otherwise, its description in Dutch (Billit's
  descriptions are localised, so only ``Code`` can be relied on);
- an unknown or foreign order id is a 404 (the swagger) for GET, PATCH, DELETE and payments;
  the option ``unknown_order_status: 401`` answers 401 ``NotAuthorizedForOrder`` instead (the
  docs say 401); a client must treat both as "not there";
- ``Customer.PartyType`` is ``Customer`` or ``Supplier`` (the swagger's enum);
- ``POST /v1/orders/{id}/payments`` (``{Amount, Description, Date}``) lowers ``ToPay`` and
  marks the order paid when nothing is left; ``DELETE /v1/orders/{id}`` answers ``true`` and
  moves the order to ``GET /v1/orders/deleted``;
- errors come in ``{"errors": [{"Code", "Description"}]}``; the option
  ``error_envelope: "ErrorEnum"`` answers them in the swagger's other envelope
  (``{"ErrorEnum", "ErrorParams", "ErrorMessage", "Append", "DefaultText"}``) instead;
- lists are ``{"Items", "NextPageLink"}``, ``$top`` capped at 120, ``$filter`` with ``eq``,
  ``ne``, ``gt``, ``ge``, ``lt``, ``le`` joined by ``and``; string comparisons ignore case (SQL
  Server's default collation); filtering on another property is 400 ``GenericError``
  "Could not find a property named ...". Products are filterable on ``Reference`` too
  (undocumented, likely), and ``fullTextSearch`` searches reference and description;
- ``PATCH /v1/orders/{id}`` takes only the patchable fields (plus ``PaymentMethod``), needs a
  time in ``PaidDate``, answers 200 with an empty body;
- ``POST /v1/products`` takes one product (answers its id as a bare integer) or
  ``{"Items": [...]}`` (answers a list of ids); ``ProductID`` in a product updates it;
  ``Reference`` is *not* an upsert key, so posting a reference twice makes two products.

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
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import wraps
from urllib.parse import urlencode

from flask import Flask, Response, redirect, request
from stdnum.eu import vat as eu_vat
from werkzeug.exceptions import HTTPException

from sandbox.control import add_clock_and_request_log, add_options
from sandbox.faults import Faults

TOKEN_SECONDS = 3600
CODE_SECONDS = 600
MAX_TOP = 120
CENT = Decimal("0.01")
UNIT_PRICE = Decimal("0.01")  # Billit's default unit-price precision (2 decimals)
QUANTITY = Decimal("0.01")

ORDER_TYPES = {"Invoice", "CreditNote", "Offer", "DeliveryNote", "OrderForm"}
DIRECTIONS = {"Income", "Cost"}
PAYMENT_METHODS = {"Other", "Visa", "Bancontact", "Contant", "Wired", "Online", "Domiciliation",
                   "PrivateAccount"}
ADDRESS_TYPES = {"InvoiceAddress", "DeliveryAddress"}
CUSTOMER_KEYS = ("VATNumber", "Email", "Nr")  # how Billit finds a known customer, in order
INDEXED_ORDER_FIELDS = ("ExternalProviderID", "OrderNumber")  # never patched (PATCHABLE)
PATCHABLE = {"Paid", "PaidDate", "IsSent", "ApprovalStatus", "AccountCode", "InternalInfo",
             "Invoiced", "AccountantVerificationNeeded", "PaymentMethod"}
ORDER_FILTERABLE = {
    "OrderID", "CounterParty/PartyID", "CompanyID", "OrderDirection", "OrderType", "OrderDate",
    "OrderNumber", "ExpiryDate", "ExportedToConnector", "AccountantVerificationNeeded",
    "TotalExcl", "TotalVAT", "TotalIncl", "FXRateToForeign", "Paid", "OrderStatus",
    "ExternalProviderID", "Currency", "PaymentReference", "LastModified", "Created",
    "ApprovalStatus", "PaidDate", "PaymentMethod", "Reference", "RemindersSent",
    "ExternalProvider", "IsSent",
}
PRODUCT_FILTERABLE = {"ProductID", "Reference", "Description", "GroupName", "LastModified",
                      "Created"}
# Every standard, reduced and zero rate of the EU member states: a percentage outside this set
# is refused (it catches 0.21 for 21 or a rate computed from rounded amounts).
EU_RATES = {Decimal(r) for r in (
    "0", "3", "4", "5", "5.5", "6", "7", "8", "9", "10", "12", "13", "13.5", "14", "15", "16",
    "17", "18", "19", "20", "21", "22", "23", "24", "25", "25.5", "27")}
DESCRIPTIONS = {
    "CustomerIsRequired": "Customer is a required field",
    "OrderDateIsRequired": "Date is a required field.",
    "ExpiryDateIsRequired": "Due date is a required field",
    "ThereMustBeAtLeastOneOrderLine": "You must choose at least 1 order line",
    "DescriptionIsMandatoryForOrderLinesWithTotals":
        "Description is mandatory for any orderline with totals.",
    "CompanyNameOrContactNameIsRequired": "Company name or contact name is required",
    "Only1OfEachAddressTypeAllowed": "Only 1 address of each type is allowed",
    "YourVATIsNotValid": "We think the VAT number you have provided is incorrect",
    "Idempotent token already exists": "Idempotent token already exists",
    # Billit answers this one in the user's language (a Dutch-speaking company here).
    "TheAboutInvoiceNumberCouldNotBeFound":
        "Het factuurnummer waarop deze creditnota betrekking heeft, werd niet gevonden",
}
PARTY_TYPES = {"Customer", "Supplier"}
# ``POST /__sandbox/options``: what the real Billit may do that its documents leave open.
OPTIONS = {
    "unknown_order_status": "401 or 404 (default): the answer for an unknown order id",
    "error_envelope": '"errors" (default) or "ErrorEnum": the shape of an error answer',
}
AUTH_DESCRIPTIONS = {
    "ApiKeyNotValid": "The API key is not valid",
    "InvalidAccessToken": "The access token is not valid",
    "AccessTokenExpired": "The access token has expired",
    "AccessTokenRevoked": "The access token has been revoked",
    "NoAccessToParty": "You do not have access to this party",
    "NotAuthorizedForOrder": "You are not authorized to access this order",
}


class ApiError(Exception):
    """One or more Billit errors; raised anywhere in a view, rendered by one handler."""

    def __init__(self, status: int, errors: list[tuple[str, str | None]]) -> None:
        super().__init__(errors[0][0] if errors else "")
        self.status, self.errors = status, errors


def _bad(code: str, description: str | None = None) -> ApiError:
    return ApiError(400, [(code, description or DESCRIPTIONS.get(code))])


def _unauthorized(code: str) -> ApiError:
    return ApiError(401, [(code, AUTH_DESCRIPTIONS[code])])


def _json_response(payload, status: int = 200) -> Response:
    return Response(json.dumps(payload, default=_json_default, ensure_ascii=False),
                    status=status, mimetype="application/json")


def _json_default(value):
    if isinstance(value, Decimal):
        return float(value)  # .NET answers decimals as JSON numbers
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _errors_response(status: int, errors: list[tuple[str, str | None]],
                     envelope: str = "errors") -> Response:
    if envelope == "ErrorEnum":  # the swagger's ``Error`` definition, one error per answer
        code, text = errors[0]
        return _json_response({"ErrorEnum": code, "ErrorParams": [], "ErrorMessage": text,
                               "Append": None, "DefaultText": text}, status)
    body = [{"Code": code, **({"Description": text} if text else {})} for code, text in errors]
    return _json_response({"errors": body}, status)


def error_body(status: int, message: str) -> Response:
    """The body of an injected fault, in Billit's envelope."""
    code = "TooManyRequests" if status == 429 else "GenericError"
    return _errors_response(status, [(code, message)])


# -- small value helpers --------------------------------------------------------------------

def _number(value, where: str, errors: list) -> Decimal | None:
    """A JSON number as Decimal; a string or bool is a client bug (reported, None returned)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        errors.append(("GenericError", f"{where}: a number is expected, got {value!r}"))
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        errors.append(("GenericError", f"{where}: a number is expected"))
        return None


def _round(value: Decimal, step: Decimal = CENT) -> Decimal:
    return value.quantize(step, ROUND_HALF_UP)


def _parse_date(value) -> date | None:
    """``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM:SS`` (what .NET's DateTime reads); None if not."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).date() if "T" in value else date.fromisoformat(value)
    except ValueError:
        return None


def _datetime_text(on: date) -> str:
    return f"{on.isoformat()}T00:00:00"


def _now_text(now: float) -> str:
    return datetime.fromtimestamp(now).replace(microsecond=0).isoformat()


# -- the company (all state, behind one lock) -----------------------------------------------

class Company:
    """One Billit user with one company: orders, products, customers, tokens."""

    def __init__(self, *, api_key: str | None, client_id: str, client_secret: str,
                 party_id: int, seed: int) -> None:
        self.lock = threading.RLock()
        self.api_key, self.client_id, self.client_secret = api_key, client_id, client_secret
        self.party_id = party_id
        self.seed = seed
        self.requests: list[dict] = []
        self.clock_offset = 0.0
        self.deny_authorization = False
        self.codes: dict[str, dict] = {}
        self.access_tokens: dict[str, dict] = {}
        self.refresh_tokens: dict[str, dict] = {}
        self.reset()

    def now(self) -> float:
        return time.time() + self.clock_offset

    def reset(self) -> None:
        """Back to an empty company. Tokens survive: a reset is about data."""
        with self.lock:
            self.rng = random.Random(self.seed)
            self.orders: dict[int, dict] = {}
            self.deleted: dict[int, dict] = {}
            self.options: dict = {}  # see OPTIONS
            self.received: dict[int, dict] = {}
            self.products: dict[int, dict] = {}
            self.customers: dict[int, dict] = {}
            self.idempotency: dict[str, int] = {}
            # Indexes of what the API looks up, so a call costs the same at 200 stored orders
            # as at 20,000: (property, casefolded value) -> ids, in the order they were made.
            self.order_index: dict[tuple[str, str], dict[int, None]] = {}
            self.customer_index: dict[tuple[str, str], int] = {}
            self.requests.clear()
            self._next_order = 108_600_000 + self.rng.randrange(1000)
            self._next_line = 205_000_000 + self.rng.randrange(1000)
            self._next_product = 419_000 + self.rng.randrange(1000)
            self._next_party = 880_000 + self.rng.randrange(1000)
            self._next_number = {"Invoice": 1, "CreditNote": 1}

    def _id(self, kind: str) -> int:
        attribute = f"_next_{kind}"
        value = getattr(self, attribute)
        setattr(self, attribute, value + 1)
        return value

    # -- tokens ---------------------------------------------------------------------------

    def issue_tokens(self) -> dict:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.access_tokens[access] = {"expires_at": self.now() + TOKEN_SECONDS,
                                      "revoked": False}
        self.refresh_tokens[refresh] = {"used": False, "revoked": False}
        return {"token_type": "Bearer", "expires_in": TOKEN_SECONDS, "access_token": access,
                "refresh_token": refresh}

    def check_access(self, token: str) -> None:
        record = self.access_tokens.get(token)
        if record is None:
            raise _unauthorized("InvalidAccessToken")
        if record["revoked"]:
            raise _unauthorized("AccessTokenRevoked")
        if self.now() >= record["expires_at"]:
            raise _unauthorized("AccessTokenExpired")

    # -- customers ------------------------------------------------------------------------

    def match_customer(self, party: dict) -> dict:
        """Billit finds an existing customer by VAT number, then e-mail, then number (Nr);
        otherwise it creates one."""
        for key in CUSTOMER_KEYS:
            wanted = str(party.get(key) or "").strip().casefold()
            if wanted and (key, wanted) in self.customer_index:
                return self.customers[self.customer_index[key, wanted]]
        customer = {k: v for k, v in party.items() if k != "Addresses"}
        customer["PartyID"] = self._id("party")
        customer["Addresses"] = party.get("Addresses") or []
        self.customers[customer["PartyID"]] = customer
        for key in CUSTOMER_KEYS:  # the first customer with a value is the one found
            value = str(customer.get(key) or "").strip().casefold()
            if value:
                self.customer_index.setdefault((key, value), customer["PartyID"])
        return customer

    # -- orders ---------------------------------------------------------------------------

    def add_order(self, order: dict) -> None:
        self.orders[order["OrderID"]] = order
        for prop in INDEXED_ORDER_FIELDS:
            if order.get(prop) is not None:
                key = (prop, str(order[prop]).casefold())
                self.order_index.setdefault(key, {})[order["OrderID"]] = None

    def delete_order(self, order_id: int) -> dict:
        order = self.orders.pop(order_id)
        for prop in INDEXED_ORDER_FIELDS:
            if order.get(prop) is not None:
                self.order_index[prop, str(order[prop]).casefold()].pop(order_id)
        return order

    def orders_numbered(self, prop: str, value: str) -> list[dict]:
        """The live orders whose ``prop`` equals ``value`` as Billit compares text."""
        return [self.orders[i] for i in self.order_index.get((prop, value.casefold()), ())]

    def orders_matching(self, clauses) -> list[dict]:
        """The live orders a list's ``$filter`` can match: narrowed by its first ``eq`` on an
        indexed property; the whole filter still runs over them (:func:`_page`)."""
        for prop, op, wanted in clauses:
            if op == "eq" and prop in INDEXED_ORDER_FIELDS and isinstance(wanted, str):
                return self.orders_numbered(prop, wanted)
        return list(self.orders.values())


# -- order validation and totals ------------------------------------------------------------

def _check_party(party, errors: list) -> None:
    if not isinstance(party, dict):
        errors.append(("CustomerIsRequired", DESCRIPTIONS["CustomerIsRequired"]))
        return
    if party.get("PartyType") is not None and party["PartyType"] not in PARTY_TYPES:
        errors.append(("GenericError", f"PartyType must be one of {sorted(PARTY_TYPES)}"))
    if not any(str(party.get(k) or "").strip() for k in
               ("Name", "Contact", "ContactFirstName", "ContactLastName", "CommercialName")):
        errors.append(("CompanyNameOrContactNameIsRequired",
                       DESCRIPTIONS["CompanyNameOrContactNameIsRequired"]))
    addresses = party.get("Addresses") or []
    kinds = [a.get("AddressType") for a in addresses if isinstance(a, dict)]
    if any(kinds.count(kind) > 1 for kind in ADDRESS_TYPES):
        errors.append(("Only1OfEachAddressTypeAllowed",
                       DESCRIPTIONS["Only1OfEachAddressTypeAllowed"]))
    if any(kind not in ADDRESS_TYPES for kind in kinds):
        errors.append(("GenericError", "AddressType must be InvoiceAddress or DeliveryAddress"))
    number = str(party.get("VATNumber") or "").replace(" ", "").replace(".", "").upper()
    if number:
        if number.startswith("BE") and not eu_vat.is_valid(number):
            errors.append(("_0_IsNoValidBEVAT", f"{party['VATNumber']} is no valid BE VAT"))
        elif not eu_vat.is_valid(number):
            errors.append(("YourVATIsNotValid", DESCRIPTIONS["YourVATIsNotValid"]))


def _tax_country(party) -> str:
    if not isinstance(party, dict):
        return "BE"
    for address in party.get("Addresses") or []:
        if isinstance(address, dict) and address.get("AddressType") == "InvoiceAddress":
            return str(address.get("CountryCode") or "BE")
    return str(party.get("CountryCode") or "BE")


def _line(company: Company, raw, index: int, country: str, errors: list) -> dict | None:
    """One order line with Billit's own totals, or None when it is invalid."""
    at = f"OrderLines[{index}]"
    if not isinstance(raw, dict):
        errors.append(("GenericError", f"{at}: an object is expected"))
        return None
    found = len(errors)
    line = dict(raw)
    product = None
    if "ProductID" in raw and raw["ProductID"] is not None:
        product_id = raw["ProductID"]
        if isinstance(product_id, bool) or not isinstance(product_id, int):
            errors.append(("GenericError", f"{at}.ProductID: an integer product id is "
                                           f"expected, got {product_id!r}"))
        else:
            product = company.products.get(product_id)
            if product is None:
                errors.append(("GenericError", f"{at}.ProductID: product {product_id} "
                                               f"does not exist"))
    if product:  # the product fills what the line leaves out
        for field, source in (("Description", "Description"), ("Reference", "Reference"),
                              ("VATPercentage", "VAT"), ("UnitPriceExcl", "AmountExcl"),
                              ("Unit", "Unit")):
            if line.get(field) is None and product.get(source) is not None:
                line[field] = product[source]
    amounts = [k for k in ("UnitPriceExcl", "UnitPriceIncl", "TotalExcl", "TotalIncl")
               if line.get(k) is not None]
    if not amounts:
        if not line.get("Description"):
            errors.append(("GenericError", f"{at}: a line needs a description or amounts"))
        return None if len(errors) > found else {**line, "TotalExcl": Decimal(0),
                                                  "TotalVAT": Decimal(0),
                                                  "TotalIncl": Decimal(0)}
    if not str(line.get("Description") or "").strip():
        errors.append(("DescriptionIsMandatoryForOrderLinesWithTotals",
                       DESCRIPTIONS["DescriptionIsMandatoryForOrderLinesWithTotals"]))
    elif len(str(line["Description"])) > 512:
        errors.append(("GenericError", f"{at}.Description: at most 512 characters"))
    quantity = _number(line.get("Quantity", 1), f"{at}.Quantity", errors)
    rate = None
    if line.get("VATPercentage") is None:
        errors.append(("InvalidVAtPercentageForTaxCountry_0_",
                       f"Invalid VAT percentage for country code {country}"))
    else:
        rate = _number(line["VATPercentage"], f"{at}.VATPercentage", errors)
    if rate is not None and rate not in EU_RATES:
        errors.append(("InvalidVAtPercentageForTaxCountry_0_",
                       f"Invalid VAT percentage for country code {country}"))
    reduction = Decimal(0)
    if line.get("ReductionPercentage") is not None:
        reduction = _number(line["ReductionPercentage"], f"{at}.ReductionPercentage",
                            errors) or Decimal(0)
    incl_leading = line.get("InclLeading") is True
    values = {k: _number(line[k], f"{at}.{k}", errors) for k in amounts}
    if len(errors) > found or quantity is None or rate is None:
        return None
    quantity = _round(quantity, QUANTITY)
    factor = (1 - reduction / 100)
    vat_factor = 1 + rate / 100
    if incl_leading:
        if values.get("TotalIncl") is not None:
            total_incl = _round(values["TotalIncl"])
            unit_incl = _round(total_incl / quantity, UNIT_PRICE) if quantity else total_incl
        elif values.get("UnitPriceIncl") is not None:
            unit_incl = _round(values["UnitPriceIncl"], UNIT_PRICE)
            total_incl = _round(unit_incl * quantity * factor)
        else:
            errors.append(("GenericError", f"{at}: InclLeading needs UnitPriceIncl or "
                                           f"TotalIncl"))
            return None
        total_excl = _round(total_incl / vat_factor)
        unit_excl = _round(unit_incl / vat_factor, UNIT_PRICE)
    else:
        if values.get("UnitPriceExcl") is not None:
            unit_excl = _round(values["UnitPriceExcl"], UNIT_PRICE)
            total_excl = _round(unit_excl * quantity * factor)
        elif values.get("TotalExcl") is not None:
            total_excl = _round(values["TotalExcl"])
            unit_excl = _round(total_excl / quantity, UNIT_PRICE) if quantity else total_excl
        else:  # only incl. amounts, without InclLeading: Billit derives the excl. price
            unit_incl = values.get("UnitPriceIncl")
            unit_excl = _round((unit_incl if unit_incl is not None
                                else values["TotalIncl"] / (quantity or 1)) / vat_factor,
                               UNIT_PRICE)
            total_excl = _round(unit_excl * quantity * factor)
        unit_incl = _round(unit_excl * vat_factor, UNIT_PRICE)
        total_incl = _round(total_excl * vat_factor)
    line.update({
        "OrderLineID": company._id("line"), "Quantity": quantity, "UnitPriceExcl": unit_excl,
        "UnitPriceIncl": unit_incl, "VATPercentage": rate, "InclLeading": incl_leading,
        "TotalExcl": total_excl, "TotalVAT": total_incl - total_excl, "TotalIncl": total_incl,
    })
    return line


def _vat_groups(lines: list[dict]) -> list[dict]:
    """VAT per rate over the summed amounts (calculations.md), the leading side summed."""
    groups = []
    rates = sorted({l["VATPercentage"] for l in lines if l.get("VATPercentage") is not None})
    for rate in rates:
        members = [l for l in lines if l.get("VATPercentage") == rate]
        vat_factor = 1 + rate / 100
        if all(l["InclLeading"] for l in members):
            incl = sum((l["TotalIncl"] for l in members), Decimal(0))
            excl = _round(incl / vat_factor)
        else:
            excl = sum((l["TotalExcl"] for l in members), Decimal(0))
            incl = excl + _round(excl * rate / 100)
        groups.append({"VATPercentage": rate, "TotalExcl": excl, "TotalVAT": incl - excl,
                       "TotalIncl": incl, "VentilationCode": None,
                       "FinancialReductionAmount": Decimal(0)})
    return groups


def create_order(company: Company, body) -> dict:
    """Validate and store an order (caller holds the lock); returns the stored order."""
    if not isinstance(body, dict):
        raise _bad("GenericError", "The body must be an order object")
    errors: list[tuple[str, str]] = []
    order_type, direction = body.get("OrderType"), body.get("OrderDirection")
    if order_type not in ORDER_TYPES:
        errors.append(("TheOrderTypeCode_0_IsInvalid",
                       f"The order type code {order_type} is invalid"))
    if direction not in DIRECTIONS:
        errors.append(("TheOrderDirectionCode_0_IsInvalid",
                       f"The order direction code {direction} is invalid"))
    dates = {}
    for field, missing in (("OrderDate", "OrderDateIsRequired"),
                           ("ExpiryDate", "ExpiryDateIsRequired")):
        if not body.get(field):
            errors.append((missing, DESCRIPTIONS[missing]))
        elif (dates.setdefault(field, _parse_date(body[field]))) is None:
            errors.append(("GenericError", f"{field}: {body[field]!r} is not a date"))
    if body.get("DeliveryDate") is not None and _parse_date(body["DeliveryDate"]) is None:
        errors.append(("InvalidDeliveryDate", "The delivery date is invalid"))
    party = body.get("Customer")
    if party is None and body.get("CustomerID") is None:
        errors.append(("CustomerIsRequired", DESCRIPTIONS["CustomerIsRequired"]))
    elif party is not None:
        _check_party(party, errors)
    elif body["CustomerID"] not in company.customers:
        errors.append(("GenericError", f"Customer {body['CustomerID']} does not exist"))
    paid = body.get("Paid")
    paid_date = None
    if paid not in (None, True, False):
        errors.append(("GenericError", "Paid must be true or false"))
    if paid is True:
        if not body.get("PaidDate"):
            errors.append(("GenericError", "PaidDate is required when Paid is true"))
        elif (paid_date := _parse_date(body["PaidDate"])) is None:
            errors.append(("GenericError", f"PaidDate: {body['PaidDate']!r} is not a date"))
    if body.get("PaymentMethod") is not None and body["PaymentMethod"] not in PAYMENT_METHODS:
        errors.append(("GenericError", f"Unknown PaymentMethod {body['PaymentMethod']!r}"))
    about = body.get("AboutInvoiceNumber")
    if about and not any(o["OrderType"] == "Invoice" and o.get("OrderNumber") == about
                         for o in company.orders_numbered("OrderNumber", str(about))):
        errors.append(("TheAboutInvoiceNumberCouldNotBeFound",
                       DESCRIPTIONS["TheAboutInvoiceNumberCouldNotBeFound"]))
    raw_lines = body.get("OrderLines")
    lines: list[dict] = []
    if not isinstance(raw_lines, list) or not raw_lines:
        errors.append(("ThereMustBeAtLeastOneOrderLine",
                       DESCRIPTIONS["ThereMustBeAtLeastOneOrderLine"]))
    else:
        country = _tax_country(party)
        lines = [l for i, raw in enumerate(raw_lines)
                 if (l := _line(company, raw, i, country, errors)) is not None]
    if errors:
        raise ApiError(400, _unique(errors))
    groups = _vat_groups(lines)
    total_excl = sum((g["TotalExcl"] for g in groups), Decimal(0))
    total_vat = sum((g["TotalVAT"] for g in groups), Decimal(0))
    if total_excl + total_vat < 0:
        raise _bad("GenericError", "The total is negative: send positive amounts (use "
                                   "OrderType CreditNote for a credit)")
    customer = (company.match_customer(party) if party is not None
                else company.customers[body["CustomerID"]])
    order_id = company._id("order")
    number = body.get("OrderNumber") or _next_number(company, order_type)
    now = _now_text(company.now())
    total_incl = total_excl + total_vat
    order = {
        "OrderID": order_id, "CompanyID": company.party_id, "OrderType": order_type,
        "OrderDirection": direction, "OrderNumber": number,
        "OrderDate": _datetime_text(dates["OrderDate"]),
        "ExpiryDate": _datetime_text(dates["ExpiryDate"]),
        "DeliveryDate": (_datetime_text(_parse_date(body["DeliveryDate"]))
                         if body.get("DeliveryDate") else None),
        "OrderTitle": body.get("OrderTitle"), "Reference": body.get("Reference"),
        "Comments": body.get("Comments"), "InternalInfo": body.get("InternalInfo"),
        "PaymentReference": body.get("PaymentReference") or _ogm(order_id),
        "Currency": body.get("Currency") or "EUR", "FXRateToForeign": Decimal(1),
        "AboutInvoiceNumber": about,
        "ExternalProvider": "APIFeed", "ExternalProviderID": body.get("ExternalProviderID"),
        "Customer": {**customer, "DisplayName": customer.get("Name")
                     or " ".join(filter(None, (customer.get("ContactFirstName"),
                                               customer.get("ContactLastName"))))},
        "CounterParty": {"PartyID": customer["PartyID"]},
        "OrderLines": lines, "VatGroups": groups,
        "TotalExcl": total_excl, "TotalVAT": total_vat, "TotalIncl": total_incl,
        "Paid": paid is True, "PaidDate": _datetime_text(paid_date) if paid_date else None,
        "PaymentMethod": body.get("PaymentMethod"),
        "ToPay": Decimal(0) if paid is True else total_incl,
        "OrderStatus": "Paid" if paid is True else "ToSend",
        "IsSent": False, "Invoiced": False, "ApprovalStatus": None, "AccountCode": None,
        "AccountantVerificationNeeded": False, "ExportedToConnector": False,
        "RemindersSent": 0, "Created": now, "LastModified": now,
    }
    company.add_order(order)
    return order


def _unique(errors: list) -> list:
    seen, out = set(), []
    for error in errors:
        if error not in seen:
            seen.add(error)
            out.append(error)
    return out


def _next_number(company: Company, order_type: str) -> str:
    """Billit's own sequence when no OrderNumber is sent (``Income-Invoice`` etc.)."""
    kind = "CreditNote" if order_type == "CreditNote" else "Invoice"
    value = company._next_number.get(kind, 1)
    company._next_number[kind] = value + 1
    return f"{'CN' if kind == 'CreditNote' else ''}{datetime.now().year}{value:05d}"


def _ogm(order_id: int) -> str:
    """A Belgian structured reference (+++ddd/dddd/ddddd+++) for an order without one."""
    base = order_id % 10**10
    check = base % 97 or 97
    digits = f"{base:010d}{check:02d}"
    return f"+++{digits[:3]}/{digits[3:7]}/{digits[7:]}+++"


def patch_order(company: Company, order: dict, body) -> None:
    if not isinstance(body, dict) or not body:
        raise _bad("GenericError", "The body must be an object with the fields to change")
    errors = [("GenericError", f"Property {key} can not be patched")
              for key in body if key not in PATCHABLE]
    changes = dict(body)
    if "PaidDate" in body and body["PaidDate"] is not None:
        text = body["PaidDate"]
        if not isinstance(text, str) or "T" not in text or _parse_date(text) is None:
            errors.append(("GenericError", "PaidDate must be a date with a time "
                                           "(YYYY-MM-DDTHH:MM:SS)"))
        else:
            changes["PaidDate"] = _datetime_text(_parse_date(text))
    if body.get("Paid") is True and not (body.get("PaidDate") or order.get("PaidDate")):
        errors.append(("GenericError", "PaidDate is required when Paid is true"))
    for flag in ("Paid", "IsSent", "Invoiced", "AccountantVerificationNeeded"):
        if flag in body and not isinstance(body[flag], bool):
            errors.append(("GenericError", f"{flag} must be true or false"))
    if body.get("PaymentMethod") is not None and body["PaymentMethod"] not in PAYMENT_METHODS:
        errors.append(("GenericError", f"Unknown PaymentMethod {body['PaymentMethod']!r}"))
    if errors:
        raise ApiError(400, errors)
    order.update(changes)
    if "Paid" in body:
        order["ToPay"] = Decimal(0) if body["Paid"] else order["TotalIncl"]
        order["OrderStatus"] = "Paid" if body["Paid"] else ("Sent" if order["IsSent"]
                                                            else "ToSend")
        if not body["Paid"]:
            order["PaidDate"] = None
    order["LastModified"] = _now_text(company.now())


def save_product(company: Company, raw) -> dict:
    if not isinstance(raw, dict):
        raise _bad("GenericError", "A product must be an object")
    errors: list = []
    if not str(raw.get("Description") or raw.get("Reference") or "").strip():
        errors.append(("GenericError", "A product needs a Description or a Reference"))
    values = {k: _number(raw[k], k, errors) for k in
              ("AmountExcl", "AmountIncl", "VAT", "BuyExcl", "StockQuantity")
              if raw.get(k) is not None}
    if values.get("VAT") is not None and values["VAT"] not in EU_RATES:
        errors.append(("GenericError", f"VAT: {values['VAT']} is not a VAT percentage"))
    product_id = raw.get("ProductID")
    if product_id is not None and product_id not in company.products:
        errors.append(("GenericError", f"Product {product_id} does not exist"))
    if errors:
        raise ApiError(400, errors)
    now = _now_text(company.now())
    product = company.products.get(product_id) or {"ProductID": company._id("product"),
                                                   "Created": now}
    product.update({k: v for k, v in raw.items() if k != "ProductID"})
    product.update(values)
    vat = product.get("VAT")
    if vat is not None and product.get("AmountExcl") is not None and "AmountIncl" not in raw:
        product["AmountIncl"] = _round(product["AmountExcl"] * (1 + vat / 100))
    if vat is not None and product.get("AmountIncl") is not None and "AmountExcl" not in raw:
        product["AmountExcl"] = _round(product["AmountIncl"] / (1 + vat / 100), UNIT_PRICE)
    product["LastModified"] = now
    company.products[product["ProductID"]] = product
    return product


# -- lists: $filter, $orderby, $top, $skip ---------------------------------------------------

_CLAUSE = re.compile(
    r"\s*(?P<prop>[A-Za-z][\w/]*)\s+(?P<op>eq|ne|gt|ge|lt|le)\s+"
    r"(?P<value>'(?:[^']|'')*'|DateTime'[^']*'|datetime'[^']*'|true|false|null|-?\d+(?:\.\d+)?)"
    r"\s*(?:and\s+|$)", re.IGNORECASE)


def _parse_filter(text: str, allowed: set[str], kind: str) -> list[tuple[str, str, object]]:
    clauses, position = [], 0
    while position < len(text):
        match = _CLAUSE.match(text, position)
        if not match or match.end() == position:
            raise _bad("GenericError", f"The $filter {text!r} is not valid")
        prop, op, raw = match.group("prop"), match.group("op").lower(), match.group("value")
        if prop not in allowed:
            raise _bad("GenericError",
                       f"Could not find a property named '{prop}' on type 'Billit.{kind}'")
        if raw.lower().startswith("datetime'"):
            value: object = _parse_date(raw[9:-1])
        elif raw.startswith("'"):
            value = raw[1:-1].replace("''", "'")
        elif raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        elif raw.lower() == "null":
            value = None
        else:
            value = Decimal(raw)
        clauses.append((prop, op, value))
        position = match.end()
    return clauses


def _field(item: dict, prop: str):
    value = item
    for part in prop.split("/"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _comparable(value, wanted):
    if isinstance(wanted, date):
        return _parse_date(value) if isinstance(value, str) else value
    if isinstance(wanted, str):
        return None if value is None else str(value).casefold()
    if isinstance(wanted, Decimal) and isinstance(value, (int, float, Decimal)) \
            and not isinstance(value, bool):
        return Decimal(str(value))
    return value


def _matches(item: dict, clauses) -> bool:
    for prop, op, wanted in clauses:
        value = _comparable(_field(item, prop), wanted)
        target = wanted.casefold() if isinstance(wanted, str) else wanted
        if op == "eq":
            ok = value == target
        elif op == "ne":
            ok = value != target
        elif value is None or target is None:
            ok = False
        else:
            try:
                ok = {"gt": value > target, "ge": value >= target, "lt": value < target,
                      "le": value <= target}[op]
            except TypeError:
                ok = False
        if not ok:
            return False
    return True


def _page(items: list[dict], allowed: set[str], kind: str) -> Response:
    args = request.args
    if args.get("$filter"):  # parsed up front: a bad filter is an error even on no items
        clauses = _parse_filter(args["$filter"], allowed, kind)
        items = [i for i in items if _matches(i, clauses)]
    order_by = (args.get("$orderby") or "").strip()
    if order_by:
        prop, _, direction = order_by.partition(" ")
        if prop not in allowed:
            raise _bad("GenericError",
                       f"Could not find a property named '{prop}' on type 'Billit.{kind}'")
        items = sorted(items, key=lambda i: _sort_key(_field(i, prop)),
                       reverse=direction.strip().lower() == "desc")
    try:
        top = min(int(args.get("$top", MAX_TOP)), MAX_TOP)
        skip = int(args.get("$skip", 0))
    except ValueError:
        raise _bad("GenericError", "$top and $skip must be whole numbers") from None
    if top < 0 or skip < 0:
        raise _bad("GenericError", "$top and $skip must not be negative")
    page = items[skip:skip + top]
    next_link = None
    if skip + top < len(items):
        query = {k: v for k, v in args.items() if k not in ("$skip",)}
        query["$skip"] = str(skip + top)
        next_link = f"{request.base_url}?{urlencode(query)}"
    return _json_response({"Items": page, "NextPageLink": next_link})


def _sort_key(value) -> tuple:
    if value is None:
        return (1, 0, "")
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return (0, value, "")
    return (0, 0, str(value))


def _summary(order: dict) -> dict:
    """A list item: no lines, no Reference (the notes, and the FR client, say so)."""
    hidden = {"OrderLines", "Reference", "Comments", "InternalInfo", "VatGroups"}
    return {k: v for k, v in order.items() if k not in hidden}


# -- the Flask app --------------------------------------------------------------------------

def _body():
    raw = request.get_data()
    if not raw.strip():
        return None
    try:
        return json.loads(raw, parse_float=Decimal)
    except ValueError:
        raise _bad("GenericError", "The body is not valid JSON") from None


def _header(*names: str) -> str:
    for name in names:  # HTTP header names are case-insensitive; werkzeug already folds case
        value = request.headers.get(name)
        if value is not None:
            return value.strip()
    return ""


def create_app(*, api_key: str | None = "demo-billit-key", client_id: str = "demo-client",
               client_secret: str = "demo-client-secret", party_id: int = 123456,
               seed: int = 1) -> Flask:
    app = Flask(__name__)
    company = Company(api_key=api_key, client_id=client_id, client_secret=client_secret,
                      party_id=party_id, seed=seed)
    app.extensions["billit"] = company

    def authenticated(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            with company.lock:
                _authenticate(company)
                return view(*args, **kwargs)
        return wrapper

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return _errors_response(exc.status, exc.errors,
                                company.options.get("error_envelope", "errors"))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        return _errors_response(exc.code or 500, [("GenericError", exc.name)])

    @app.errorhandler(Exception)
    def _crash(exc: Exception):
        app.logger.exception("sandbox Billit crashed")
        return _errors_response(500, [("GenericError", "An unexpected error occurred")])

    # Registered before the faults so it runs after them: the log shows the final status.
    @app.after_request
    def _log(response: Response):
        if not request.path.startswith("/__sandbox/"):
            entry = {"method": request.method, "path": request.path,
                     "status": response.status_code}
            if request.path == "/v1/orders" or request.path == "/v1/products":
                entry["query"] = request.query_string.decode()
            if request.path == "/OAuth2/token":  # the grant, never the tokens or the secret
                body = request.get_json(silent=True)
                entry["grant"] = body.get("grant_type") if isinstance(body, dict) else None
            with company.lock:  # never a header, never a secret
                company.requests.append(entry)
        return response

    faults = Faults(error_body, seed=seed)
    faults.init_app(app)
    app.extensions["faults"] = faults
    _register_oauth(app, company)
    _register_api(app, company, authenticated)
    _register_control(app, company)
    return app


def _authenticate(company: Company) -> None:
    """ApiKey or bearer, then the PartyID (optional; it must be this company's)."""
    bearer = _header("Authorization")
    key = _header("ApiKey")
    if bearer:
        scheme, _, token = bearer.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("InvalidAccessToken")
        company.check_access(token.strip())
    elif key:
        if company.api_key is None or not secrets.compare_digest(key, company.api_key):
            raise _unauthorized("ApiKeyNotValid")
    else:
        raise _unauthorized("InvalidAccessToken")
    party = _header("PartyID")
    if party and party != str(company.party_id):
        raise _unauthorized("NoAccessToParty")


def _register_oauth(app: Flask, company: Company) -> None:
    @app.get("/Account/Logon")
    def oauth_authorize():
        """my.billit.be's consent page, auto-approved (or denied when the control API says)."""
        args = request.args
        redirect_uri, state = args.get("redirect_uri"), args.get("state", "")
        if args.get("client_id") != company.client_id or not redirect_uri:
            raise _bad("GenericError", "Unknown client_id or missing redirect_uri")
        with company.lock:
            if company.deny_authorization:
                query = {"error": "access_denied", "state": state}
            else:
                code = secrets.token_urlsafe(24)
                company.codes[code] = {"redirect_uri": redirect_uri, "used": False,
                                       "expires_at": company.now() + CODE_SECONDS}
                query = {"code": code, "state": state}
        separator = "&" if "?" in redirect_uri else "?"
        return redirect(f"{redirect_uri}{separator}{urlencode(query)}", code=302)

    def refused(description: str) -> Response:
        return _json_response({"error": "invalid_grant", "errors": [
            {"Code": "InvalidGrant", "Description": description}]}, 400)

    @app.post("/OAuth2/token")
    def oauth_token():
        body = _body()
        if not isinstance(body, dict):
            raise _bad("GenericError", "The token request must be a JSON object")
        grant = body.get("grant_type")
        with company.lock:
            if (body.get("client_id") != company.client_id
                    or not secrets.compare_digest(str(body.get("client_secret") or ""),
                                                  company.client_secret)):
                return refused("Unknown client or wrong client secret")
            if grant == "authorization_code":
                record = company.codes.get(str(body.get("code") or ""))
                if (record is None or record["used"] or company.now() >= record["expires_at"]
                        or record["redirect_uri"] != body.get("redirect_uri")):
                    return refused("The authorization code is invalid, expired or used")
                record["used"] = True
                return _json_response(company.issue_tokens())
            if grant == "refresh_token":
                record = company.refresh_tokens.get(str(body.get("refresh_token") or ""))
                if record is None or record["used"] or record["revoked"]:
                    return refused("The refresh token is invalid, revoked or already used")
                record["used"] = True  # single-use: spent even if the answer gets lost
                return _json_response(company.issue_tokens())
        raise _bad("GenericError", f"Unsupported grant_type {grant!r}")


def add_payment(company: Company, order: dict, body) -> None:
    """``{Amount, Description, Date}``: a payment against the order's open amount."""
    if not isinstance(body, dict):
        raise _bad("GenericError", "The body must be a payment object")
    errors: list = []
    amount = _number(body.get("Amount"), "Amount", errors)
    when = _parse_date(body["Date"]) if body.get("Date") else date.today()
    if body.get("Date") and when is None:
        errors.append(("GenericError", f"Date: {body['Date']!r} is not a date"))
    if errors:
        raise ApiError(400, errors)
    order["ToPay"] = _round(order["ToPay"] - amount)
    order.setdefault("Payments", []).append({"Amount": amount, "Date": _datetime_text(when),
                                             "Description": body.get("Description")})
    if order["ToPay"] <= 0:
        order.update(Paid=True, PaidDate=_datetime_text(when), OrderStatus="Paid")
    order["LastModified"] = _now_text(company.now())


def _register_api(app: Flask, company: Company, authenticated) -> None:
    @app.get("/v1/account/accountInformation")
    @authenticated
    def account_information():
        return _json_response({"Email": "demo@example.be", "Companies": [
            {"PartyID": company.party_id, "Name": "Demo Webshop BV", "PartyType": "Customer",
             "VATNumber": "BE0477472701"}], "UserCompanyRoles": []})

    @app.post("/v1/orders")
    @authenticated
    def order_create():
        body = _body()
        key = _header("Idempotency-Key", "Idempotent-Key")
        if key and key in company.idempotency:
            raise ApiError(409, [("Idempotent token already exists", None)])
        order = create_order(company, body)
        company.received[order["OrderID"]] = {"body": body, "idempotency_key": key or None}
        if key:  # stored only after the success (a refused order leaves the key free)
            company.idempotency[key] = order["OrderID"]
        return _json_response(order["OrderID"])

    def own_order(order_id: int) -> dict:
        order = company.orders.get(order_id)
        if order is None:
            if company.options.get("unknown_order_status") == 401:
                raise _unauthorized("NotAuthorizedForOrder")
            raise ApiError(404, [("GenericError", f"Order {order_id} not found")])
        return order

    @app.get("/v1/orders/<int:order_id>")
    @authenticated
    def order_get(order_id: int):
        return _json_response(own_order(order_id))

    @app.patch("/v1/orders/<int:order_id>")
    @authenticated
    def order_patch(order_id: int):
        patch_order(company, own_order(order_id), _body())
        return Response(status=200)

    @app.delete("/v1/orders/<int:order_id>")
    @authenticated
    def order_delete(order_id: int):
        order = company.delete_order(own_order(order_id)["OrderID"])
        order["LastModified"] = _now_text(company.now())
        company.deleted[order_id] = order
        return _json_response(True)

    @app.post("/v1/orders/<int:order_id>/payments")
    @authenticated
    def order_payment(order_id: int):
        add_payment(company, own_order(order_id), _body())
        return Response(status=200)

    @app.get("/v1/orders")
    @authenticated
    def order_list():
        clauses = (_parse_filter(request.args["$filter"], ORDER_FILTERABLE, "Order")
                   if request.args.get("$filter") else [])
        items = [_summary(o) for o in sorted(company.orders_matching(clauses),
                                             key=lambda o: o["OrderID"])]
        return _page(items, ORDER_FILTERABLE, "Order")

    @app.get("/v1/orders/deleted")
    @authenticated
    def order_deleted_list():
        items = [_summary(o) for o in sorted(company.deleted.values(),
                                             key=lambda o: o["OrderID"])]
        return _page(items, ORDER_FILTERABLE, "Order")

    @app.get("/v1/products")
    @authenticated
    def product_list():
        items = sorted(company.products.values(), key=lambda p: p["ProductID"])
        search = (request.args.get("fullTextSearch") or "").strip().casefold()
        if search:
            items = [p for p in items if search in str(p.get("Reference") or "").casefold()
                     or search in str(p.get("Description") or "").casefold()]
        return _page(items, PRODUCT_FILTERABLE, "Product")

    @app.get("/v1/products/<int:product_id>")
    @authenticated
    def product_get(product_id: int):
        product = company.products.get(product_id)
        if product is None:
            raise ApiError(404, [("GenericError", f"Product {product_id} not found")])
        return _json_response(product)

    @app.post("/v1/products")
    @authenticated
    def product_save():
        body = _body()
        if isinstance(body, dict) and isinstance(body.get("Items"), list):
            saved = [save_product(company, item) for item in body["Items"]]
            return _json_response([p["ProductID"] for p in saved])
        return _json_response(save_product(company, body)["ProductID"])


def _register_control(app: Flask, company: Company) -> None:
    """``/__sandbox/``: how tests and the demo drive the fake (never through its internals)."""

    @app.get("/__sandbox/orders")
    def control_orders():
        with company.lock:  # the stored order with its lines, plus what was sent
            return _json_response([{**order, "Received": company.received.get(order_id)}
                                   for order_id, order in sorted(company.orders.items())])

    @app.get("/__sandbox/products")
    def control_products():
        with company.lock:
            return _json_response(sorted(company.products.values(),
                                         key=lambda p: p["ProductID"]))

    @app.post("/__sandbox/products")
    def control_products_add():
        body = _body()
        with company.lock:
            made = [save_product(company, p) for p in (body if isinstance(body, list)
                                                       else [body])]
        return _json_response(made, 201)

    @app.get("/__sandbox/customers")
    def control_customers():
        with company.lock:
            return _json_response(sorted(company.customers.values(),
                                         key=lambda c: c["PartyID"]))

    @app.post("/__sandbox/reset")
    def control_reset():
        body = _body() or {}
        company.reset()
        app.extensions["faults"].clear()
        if body.get("tokens"):  # also forget every token: clients must connect again
            with company.lock:
                company.codes.clear()
                company.access_tokens.clear()
                company.refresh_tokens.clear()
        return _json_response({"reset": True})

    @app.post("/__sandbox/tokens/expire")
    def control_tokens_expire():
        """Every access token issued so far expires now (refresh tokens stay valid)."""
        with company.lock:
            now = company.now()
            for record in company.access_tokens.values():
                record["expires_at"] = min(record["expires_at"], now)
            return _json_response({"expired": len(company.access_tokens)})

    @app.post("/__sandbox/refresh/revoke")
    def control_refresh_revoke():
        """The merchant revoked koppel's access: the next refresh is refused. With
        ``{"access_tokens": true}`` the access tokens stop working too (AccessTokenRevoked)."""
        body = _body() or {}
        with company.lock:
            for record in company.refresh_tokens.values():
                record["revoked"] = True
            if body.get("access_tokens"):
                for record in company.access_tokens.values():
                    record["revoked"] = True
            return _json_response({"revoked": len(company.refresh_tokens)})

    @app.post("/__sandbox/oauth/deny")
    def control_oauth_deny():
        body = _body() or {}
        with company.lock:
            company.deny_authorization = bool(body.get("deny", True))
            return _json_response({"deny": company.deny_authorization})

    @app.get("/__sandbox/tokens")
    def control_tokens():
        """Counts only, never a token: how many were issued, used, revoked, still valid."""
        with company.lock:
            now = company.now()
            refresh = list(company.refresh_tokens.values())
            return _json_response({
                "access_tokens": len(company.access_tokens),
                "access_valid": sum(1 for r in company.access_tokens.values()
                                    if not r["revoked"] and now < r["expires_at"]),
                "refresh_tokens": len(refresh),
                "refresh_used": sum(1 for r in refresh if r["used"]),
                "refresh_revoked": sum(1 for r in refresh if r["revoked"]),
            })

    add_clock_and_request_log(app, company)
    add_options(app, company, OPTIONS)
