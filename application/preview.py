"""``koppel preview``: what would be booked, without booking it (preview.md).

It calls exactly what the workers call (``build_booking``, the debtor rules, the request
builders); only the ledger look-ups are replaced by the optional ``relations`` list.
"""

from __future__ import annotations

from decimal import Decimal

from domain.billit import order_request
from domain.booking import Booking, build_booking
from domain.eboekhouden import sale_request
from domain.debtor import (base_code, fixed_debtor_code, match_relation, relation_code,
                           relation_fields)
from domain.settings import Settings


def _jsonable(value: object) -> object:
    """Decimals as strings (preview.md): amounts already carry their two decimals."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {key: _jsonable(inner) for key, inner in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(inner) for inner in value]
    return value


# The document header of preview.md: the booking's own serialisation, without its lines,
# checks and customer (shown in their own sections).
DOCUMENT_FIELDS = ("kind", "number", "sales_number", "date", "currency", "scope", "country",
                   "payment_method", "total_incl", "total_excl", "total_vat")


def _document(booking: Booking) -> dict:
    data = booking.to_dict()
    return {field: data[field] for field in DOCUMENT_FIELDS}


def _placeholder(code: str) -> str:
    return f"<id of relation {code}>"


def _eboekhouden_debtor(booking: Booking, settings: Settings,
                        relations: list[dict] | None) -> tuple[dict, list[dict], str]:
    """R6.1-R6.4 offline: ``(debtor, relation requests, relation id placeholder)``."""
    fixed = fixed_debtor_code(booking, settings, settings.ledger.document)
    if fixed:
        return {"action": "fixed", "rule": "R6.1", "code": fixed}, [], _placeholder(fixed)
    known = relations or []
    match = match_relation(booking.customer.email, known)
    if match is not None:
        code = str(match.get("code", ""))
        return ({"action": "match", "rule": "R6.2", "code": code,
                 "email": booking.customer.email}, [], _placeholder(code))
    fields = relation_fields(booking.customer)
    code = relation_code(base_code(booking.customer),
                         {str(relation.get("code", "")) for relation in known})
    debtor = {"action": "create", "rule": "R6.3, R6.4", "code": code,
              "type": fields["type"], "name": fields.get("name", ""),
              "email": booking.customer.email}
    if relations is None:
        debtor["note"] = ("no --relations given: assumed that no relation has this e-mail "
                          "address or code")
    request = {"method": "POST", "path": "/v1/relation", "body": {"code": code, **fields}}
    return debtor, [request], _placeholder(code)


def preview(bundle: dict, settings: Settings,
            relations: list[dict] | None = None) -> tuple[dict, int]:
    """The preview object and the exit status (0 every check passes, 1 a check fails).
    An unreadable bundle raises ``domain.source.DocumentError``."""
    booking = build_booking(bundle, settings)
    if settings.is_billit:
        external_id = f"ccvshop-{booking.kind}-{booking.shop_id or booking.number}"
        debtor = {"action": "billit", "rule": "R7.3", "name": booking.customer.name,
                  "email": booking.customer.email,
                  "note": "Billit finds or creates the customer itself from these details"}
        requests = [order_request(booking, settings, external_id)]
    else:
        debtor, requests, relation_id = _eboekhouden_debtor(booking, settings, relations)
        requests.append(sale_request(booking, settings, relation_id))
    result = {
        "document": _document(booking),
        "checks": [{"code": check.code, "rule": check.rule, "ok": check.ok,
                    "message": check.message_en, "message_nl": check.message_nl}
                   for check in booking.checks],
        "lines": [line.to_dict() for line in booking.lines],
        "debtor": debtor,
        "requests": _jsonable(requests),
    }
    notes = list(booking.notes) + [f"{explanation.rule}: {explanation.message_en}"
                                   for explanation in booking.explanations]
    if notes:
        result["notes"] = notes
    return result, 0 if booking.ok else 1
