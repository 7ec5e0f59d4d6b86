"""Fixtures for the e-Boekhouden fake and client: in-process (WSGITransport) and on a port."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from sandbox.eboekhouden import create_app
from sandbox.serve import serve
from tests.sandbox_control import SandboxControl
from workers.connectors.eboekhouden import EBoekhoudenClient

API_TOKEN = "api-token-3f2c9a1e7b"
BASE = "http://eboekhouden.test"


class Fake(SandboxControl):
    """One fake administration plus helpers to drive it through its control API."""

    def __init__(self, app, base_url: str, transport: httpx.BaseTransport | None) -> None:
        self.app = app
        super().__init__(base_url, transport)

    def client(self, **kwargs) -> EBoekhoudenClient:
        kwargs.setdefault("transport", self.transport)
        return EBoekhoudenClient(self.base_url, kwargs.pop("api_token", API_TOKEN), **kwargs)

    def relation(self, name="Jan Jansen", **fields) -> dict:
        return self.post("relations", {"name": name, "type": "P", **fields})[0]


@pytest.fixture
def fake():
    app = create_app(api_token=API_TOKEN, seed=7)
    f = Fake(app, BASE, httpx.WSGITransport(app=app))
    yield f
    f.control.close()


@pytest.fixture
def client(fake):
    c = fake.client()
    yield c
    c.close()


@pytest.fixture
def served():
    """The fake on a real local port, served with keep-alive, as in production."""
    app = create_app(api_token=API_TOKEN, seed=7)
    server = serve(app)
    f = Fake(app, server.url, None)
    yield f
    f.control.close()
    server.stop()


def sale(number: str, relation_id: int, **overrides) -> dict:
    """A type-2 sales mutation as the domain builds it (R7.1): ledger *codes*, Decimal money."""
    body = {
        "type": 2, "date": "2025-03-14", "ledgerId": "1300", "relationId": relation_id,
        "invoiceNumber": number, "termOfPayment": 14, "description": f"{number} - iDEAL",
        "inExVat": "EX",
        "rows": [
            {"ledgerId": "8000", "vatCode": "HOOG_VERK_21", "amount": Decimal("40.00"),
             "description": "T-shirt 2x"},
            {"ledgerId": "8001", "vatCode": "LAAG_VERK_9", "amount": Decimal("15.00"),
             "description": "Boek"},
        ],
    }
    body.update(overrides)
    return body


def payment(number: str, relation_id: int, amount: Decimal, **overrides) -> dict:
    """A type-3 payment as R8.2 builds it."""
    body = {
        "type": 3, "date": "2025-03-15", "ledgerId": "1100", "relationId": relation_id,
        "invoiceNumber": number, "description": f"iDEAL - {number} - tr_123", "inExVat": "EX",
        "rows": [{"ledgerId": "1300", "vatCode": "GEEN", "amount": amount,
                  "invoiceNumber": number, "relationId": relation_id,
                  "description": f"Betaling {number}"}],
    }
    body.update(overrides)
    return body
