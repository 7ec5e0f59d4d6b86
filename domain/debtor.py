"""R6: the debtor a sale is booked to in e-Boekhouden (pure functions; lookups are the
connector's)."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from .classify import ICP
from .customer import Customer

if TYPE_CHECKING:  # only for annotations: the debtor rules need no booking at run time
    from .booking import Booking
    from .settings import Settings

# e-Boekhouden's maximum lengths (relation fields), so a long shop value never fails a create.
_MAX = {"name": 100, "contact": 50, "address": 150, "postalCode": 50, "city": 50,
        "country": 50, "phoneNumber": 50, "emailAddress": 150, "vatNumber": 50}


def ascii_fold(text: str) -> str:
    """é -> e, ß stays out: decompose and drop what is not ASCII."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def base_code(customer: Customer) -> str:
    """R6.4: company, else first + last name; folded, letters and digits only, 10 chars."""
    source = customer.company or f"{customer.first_name}{customer.last_name}"
    kept = "".join(char for char in ascii_fold(source) if char.isascii() and char.isalnum())
    return kept[:10] or "DEB"


def relation_code(base: str, existing_codes: set[str]) -> str:
    """R6.4: ``base`` when free, else ``base`` + the first free number from 1. Codes are
    compared without case, so a code that differs only in case is not sent as "new"."""
    taken = {code.casefold() for code in existing_codes}
    if base.casefold() not in taken:
        return base
    number = 1
    while f"{base}{number}".casefold() in taken:
        number += 1
    return f"{base}{number}"


def relation_fields(customer: Customer) -> dict:
    """R6.3: a new relation in e-Boekhouden's wire names; empty fields are left out."""
    address = customer.billing
    fields = {
        "type": "B" if customer.company else "P",
        "name": customer.name,
        "contact": customer.person_name,
        "address": address.street_line,
        "postalCode": address.zipcode,
        "city": address.city,
        "country": address.country or address.country_code,
        "emailAddress": customer.email,
        "phoneNumber": customer.phone,
        "vatNumber": customer.btw,
    }
    if customer.kvk.isdigit():  # e-Boekhouden accepts only a numeric KvK (REL_008)
        fields["companyRegistrationNumber"] = customer.kvk
    return {key: (value[:_MAX[key]] if key in _MAX else value)
            for key, value in fields.items() if value}


def relation_key(email: str, document_id: object) -> str:
    """Whose relation a document needs: the customer's e-mail as R6.2 matches it (trimmed,
    without case), or, for a customer without one, the document's own (R6.3)."""
    wanted = email.strip().casefold()
    return f"email:{wanted}" if wanted else f"document:{document_id}"


def match_relation(email: str, relations: list[dict]) -> dict | None:
    """R6.2: the first relation with this e-mail address, case-insensitive."""
    if not email:
        return None
    wanted = email.strip().casefold()
    for relation in relations:
        if str(relation.get("email", "")).strip().casefold() == wanted:
            return relation
    return None


def fixed_debtor_code(booking: "Booking", settings: "Settings",
                      process_mode: str | None = None) -> str | None:
    """R6.1: in invoice mode a payment method may name a fixed debtor; ICP never uses one.

    The manual says "only when processing to invoices". ``process_mode`` is either the
    e-Boekhouden document (``ledger.document``: ``"invoice"``) or the shop processing
    (``shop.process``: ``"invoices"``); both mean invoice mode. ``None`` reads
    ``ledger.document`` from the settings.
    """
    mode = settings.ledger.document if process_mode is None else process_mode
    if mode not in ("invoice", "invoices") or booking.scope == ICP:
        return None
    method = settings.payment_methods.get(booking.payment_method)
    if method is None or not method.fixed_debtor:
        return None
    return method.fixed_debtor
