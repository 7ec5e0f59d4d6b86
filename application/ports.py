"""The ports: what the application needs from a shop and from a ledger.

Connectors in ``workers/connectors`` implement these over HTTP; tests may use the sandbox fakes
behind them. Every method raises only the errors of ``application.errors``. Amounts in source
documents are ``Decimal`` (R0.1): connectors parse JSON with ``parse_float=Decimal``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterator, Protocol


class Shop(Protocol):
    """A webshop (first: CCV Shop). Returns the shop API's own JSON, untouched."""

    def fetch_order(self, order_id: int) -> dict:
        """R1.1: ``{"order": <GET /orders/{id}>, "orderrows": [<every row of every page>]}``."""

    def fetch_invoice(self, invoice_id: int) -> dict:
        """R1.2: ``{"invoice": ..., "invoicerows": [...], "order": <linked order or None>}``."""

    def list_orders(self, *, since: datetime | None = None,
                    until: datetime | None = None) -> Iterator[dict]:
        """Every order (the list items: at least ``id`` and ``create_date``), all pages;
        ``since``/``until`` may widen to whole days, never narrow."""

    def list_invoices(self, *, since: datetime | None = None,
                      until: datetime | None = None) -> Iterator[dict]:
        """Every invoice (the list items: at least ``id`` and ``create_date``), all pages."""

    def invoices_of_order(self, order_number: str) -> list[dict]:
        """Every invoice of the order with this ``ordernumber_full`` (list items: at least
        ``id``, ``type`` or ``total_price``)."""

    def register_webhook(self, event: str, address: str) -> dict:
        """Register ``address`` for ``event``; returns the webhook resource (with its ``key``)."""

    def list_webhooks(self) -> list[dict]:
        """The webhooks registered at the shop (``event``, ``address``, ...)."""

    def delete_webhook(self, webhook_id: int) -> None: ...


class EBoekhouden(Protocol):
    """The e-Boekhouden REST API. Request bodies come from the domain (R7.1, R7.2) and name
    ledger accounts by their *code* in every ``ledgerId`` field; the connector resolves codes to
    ids (cached), so the domain never needs the ledger to build a booking."""

    def ledger_accounts(self) -> list[dict]:
        """Every ledger account as ``{"code", "description", "category"}`` (settings page)."""

    def invoice_templates(self) -> list[str]:
        """The names of the active invoice templates (settings page)."""

    def find_relation_by_email(self, email: str) -> dict | None:
        """R6.2: the relation with this e-mail address (case-insensitive), as ``{"id", "code"}``."""

    def find_relation_by_code(self, code: str) -> dict | None:
        """R6.1: the relation with exactly this code, as ``{"id", "code"}``."""

    def get_relation(self, relation_id: int) -> dict | None:
        """The whole relation (wire field names: ``name``, ``emailAddress`` ...), or None."""

    def relation_codes(self, prefix: str) -> set[str]:
        """R6.4: the codes of all relations whose code starts with ``prefix``."""

    def create_relation(self, relation: dict) -> dict:
        """R6.3: create a relation (wire field names); returns ``{"id", "code"}``."""

    def find_mutation(self, invoice_number: str) -> dict | None:
        """I1: the sales mutation already booked with this invoice number, or None."""

    def create_mutation(self, body: dict) -> dict:
        """R7.1: ``POST /v1/mutation``; returns ``{"id": ...}``. A duplicate invoice number
        raises ``DuplicateError``."""

    def find_payment(self, invoice_number: str) -> dict | None:
        """I1 for payments: the type-3 mutation already booked against this invoice, or None."""

    def find_outstanding(self, invoice_number: str) -> dict | None:
        """R8.2: the open debtor item of this invoice (``outstandingAmount``), or None."""

    def create_invoice(self, body: dict) -> dict:
        """R7.2: ``POST /v1/invoice``; returns ``{"id", "invoiceNumber"}``."""

    def find_invoice(self, invoice_number: str) -> dict | None:
        """I1 for R7.2 with the shop's number."""

    def find_invoice_by_reference(self, reference: str, relation_id: int) -> dict | None:
        """I1 for R7.2 when the ledger numbers the invoice: found by koppel's reference."""
