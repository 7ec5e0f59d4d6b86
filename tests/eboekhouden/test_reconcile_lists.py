"""What a reconciliation reads of e-Boekhouden (issue 13.1): the sales of a period through the
mutation list's documented filters (``type``, ``date[range]``), each read in full with its
ledger codes; and the fake's control API that stands in for a person editing or deleting a
mutation in e-Boekhouden's own screens (its API can do neither)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from .conftest import payment, sale


@pytest.fixture
def jan(fake):
    return fake.relation("Jan Jansen", emailAddress="jan@example.nl")


def _numbers(mutations) -> list[str]:
    return [m["invoiceNumber"] for m in mutations]


def test_the_list_filters_by_type_and_date_range(fake, client, jan):
    for number, day in (("WS1", "2025-02-28"), ("WS2", "2025-03-01"), ("WS3", "2025-03-31"),
                        ("WS4", "2025-04-01")):
        client.create_mutation(sale(number, jan["id"], date=day))
    client.create_mutation(payment("WS2", jan["id"], Decimal("64.75"), date="2025-03-02"))

    march = list(client.sales_between("2025-03-01", "2025-03-31"))
    assert _numbers(march) == ["WS2", "WS3"]  # both ends included, no payment (type 3)
    assert [r["ledgerCode"] for r in march[0]["rows"]] == ["8000", "8001"]
    assert [r["query"] for r in fake.requests("GET", "/v1/mutation")] == [
        "type=2&date%5Brange%5D=2025-03-01%2C2025-03-31&limit=2000&offset=0"]

    raw = fake.control.get("/v1/mutation", params={"date[gte]": "2025-03-31"},
                           headers={"Authorization": client._current_session().value})
    assert _numbers(raw.json()["items"]) == ["WS3", "WS4"]


def test_a_period_longer_than_a_page_is_read_whole(fake, jan):
    small = fake.client(page_size=2)
    for n in range(5):
        small.create_mutation(sale(f"WS{n}", jan["id"]))
    assert _numbers(small.sales_between("2025-03-14", "2025-03-14")) == [
        f"WS{n}" for n in range(5)]
    small.close()


def test_deleting_and_editing_through_the_control_api(fake, client, jan):
    first = client.create_mutation(sale("WS1", jan["id"]))["id"]
    second = client.create_mutation(sale("WS2", jan["id"]))["id"]

    assert fake.control.delete(f"/__sandbox/mutations/{first}").status_code == 200
    assert client.find_mutation("WS1") is None
    assert fake.control.delete(f"/__sandbox/mutations/{first}").status_code == 404
    client.create_mutation(sale("WS1", jan["id"]))  # the number is free again (MUT_019 gone)

    ledgers = {l["code"]: l["id"] for l in fake.get("ledgers")}
    edited = fake.control.patch(f"/__sandbox/mutations/{second}", json={
        "date": "2025-03-20",
        "rows": [{"ledgerId": ledgers["8001"], "vatCode": "LAAG_VERK_9", "amount": "50.00",
                  "description": "alles laag"}]})
    assert edited.status_code == 200
    found = client.sale_numbered("WS2")
    assert found["date"].startswith("2025-03-20")
    assert [(r["ledgerCode"], r["vatCode"], r["amount"]) for r in found["rows"]] == [
        ("8001", "LAAG_VERK_9", Decimal("50.00"))]
    assert found["vat"] == [{"vatCode": "LAAG_VERK_9", "amount": Decimal("4.5")}]
