"""Two merchants, an accountant, support and an admin on one koppel, each with a signed-in
client, and documents in both merchants' connections (the same shop order numbers in both)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from sandbox.generator import generate
from tests.e2e.conftest import fakes_on_ports  # noqa: F401 (the CLI tests' fakes on ports)
from tests.harness import BOOKS_FROM, MERCHANT, Harness, csrf_token, sign_in, test_settings

PASSWORD = "a-long-test-password"
OTHER_SHOP = {'name = "Demo shop"': 'name = "Other shop"'}


def _orders(outcome: str, seed: int) -> list[dict]:
    docs = [d for d in generate(40, seed, unpaid_share=0.0, scopes={"domestic", "icp"},
                                failing_share=0.5 if outcome == "failed" else 0.0)
            if d["kind"] == "order" and d["expect"]["outcome"] == outcome
            and d["order"]["customer"]["billingaddress"]["full_name"]]
    assert docs
    return docs


def give_reason(client, connection_id: str, reason: str):
    token = csrf_token(client.get("/sign-in").get_data(as_text=True))
    return client.post(f"/connections/{connection_id}/reason?next=/",
                       data={"reason": reason, "csrf_token": token})


@dataclass
class Scene:
    h: Harness
    connections: dict  # "A" | "B" -> connection id (str)
    documents: dict    # ("A" | "B", "failed" | "posted") -> document id (str)
    customers: list    # the customers' names and e-mail addresses in those documents
    clients: dict      # role name -> Flask test client (signed in, or anonymous)

    def process(self, connection_id, document: dict) -> str:
        shop_id = self.h.put_order(document)["id"]
        doc_id = self.h.runtime.processing.intake(connection_id, "order", shop_id, "test")
        self.h.runtime.processing.process(doc_id)
        return str(doc_id)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """Billit connections (so the connect flow is a route every role can be refused). Made
    once for a module: each test uses documents of its own where it changes them."""
    h = Harness(f"sqlite:///{tmp_path_factory.mktemp('access') / 'koppel.sqlite'}",
                ledger="billit")
    other, _ = h.runtime.connections.save(test_settings(h.shop_url, "billit", **OTHER_SHOP),
                                          by="test", start_date=BOOKS_FROM)
    s = Scene(h, {"A": str(h.connection.id), "B": str(other.id)}, {}, [], {})
    failed, stuck, why = _orders("failed", 3)[:3]
    posted, more = _orders("posted", 4)[:2]
    for name, conn_id in (("A", h.connection.id), ("B", other.id)):
        s.documents[name, "failed"] = s.process(conn_id, failed)  # stays in Errors
        s.documents[name, "stuck"] = s.process(conn_id, stuck)    # processed again by some
    s.documents["B", "why"] = s.process(other.id, why)
    # Report: A has one posted document, B two, so every scope has its own count.
    s.documents["A", "posted"] = s.process(h.connection.id, posted)
    s.process(other.id, posted)
    s.process(other.id, more)
    for document in (failed, posted):
        customer = document["order"]["customer"]
        billing = customer["billingaddress"]
        s.customers += [customer["email"], billing["full_name"]]
    assert all(s.customers)
    accounts = h.runtime.accounts
    accounts.add("b@example.test", "merchant", PASSWORD, by="test", connections=[other.id])
    accounts.add("accountant@example.test", "accountant", PASSWORD, by="test",
                 connections=[h.connection.id])
    accounts.add("support@example.test", "support", PASSWORD, by="test")
    accounts.add("admin@example.test", "admin", PASSWORD, by="test")
    s.clients = {"anonymous": h.web.test_client(), "merchant A": h.merchant}
    for role, email in (("merchant B", "b@example.test"),
                        ("accountant of A", "accountant@example.test"),
                        ("support", "support@example.test"), ("admin", "admin@example.test")):
        client = h.web.test_client()
        assert sign_in(client, email, PASSWORD).status_code == 302
        client.email = email
        s.clients[role] = client
    h.merchant.email = MERCHANT[0]
    for conn in s.connections.values():  # support says why, once, as on the page
        give_reason(s.clients["support"], conn, "the merchant asked us by phone")
    h.runtime.projector.catch_up()
    yield s
    h.close()


__all__ = ["MERCHANT", "PASSWORD", "Scene"]
