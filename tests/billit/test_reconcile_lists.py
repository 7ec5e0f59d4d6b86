"""What a reconciliation reads of Billit (issue 13.1): the income orders of a period through
the documented OData filter (``OrderDirection``, ``OrderDate ge/le DateTime'...'``), every page
(``$top`` is at most 120, then ``NextPageLink``), each read in full for its lines."""

from __future__ import annotations

from urllib.parse import unquote_plus

from .conftest import billit_settings, bundles, order_for


def _post(client, body: dict, key: str) -> int:
    return client.create_order(body, key)["id"]


def test_income_of_a_period_is_filtered_by_order_date_and_read_in_full(fake, client):
    request, _ = order_for(bundles("order")[0], billit_settings(), "k")
    made = {}
    for n, day in enumerate(("2026-02-28", "2026-03-01", "2026-03-31", "2026-04-01")):
        body = dict(request["body"], OrderDate=day, ExpiryDate="2026-05-01",
                    ExternalProviderID=f"doc-{n}")
        made[day] = _post(client, body, f"doc-{n}")
    purchase = dict(request["body"], OrderDate="2026-03-10", ExpiryDate="2026-05-01",
                    OrderDirection="Cost", ExternalProviderID="cost-1")
    _post(client, purchase, "cost-1")

    march = client.income_between("2026-03-01", "2026-03-31")
    assert [o["OrderID"] for o in march] == [made["2026-03-01"], made["2026-03-31"]]
    assert all(o["OrderLines"] for o in march)  # the list has none: read again in full
    [listing] = [r for r in fake.requests("GET", "/v1/orders")]
    assert "OrderDate ge DateTime'2026-03-01' and OrderDate le DateTime'2026-03-31'" in \
        unquote_plus(listing["query"])


def test_a_period_longer_than_a_page_is_read_whole(fake, client):
    request, _ = order_for(bundles("order")[0], billit_settings(), "k")
    ids = [_post(client, dict(request["body"], OrderDate="2026-03-02", ExpiryDate="2026-04-01",
                              ExternalProviderID=f"doc-{n}"), f"doc-{n}") for n in range(125)]
    assert [o["OrderID"] for o in client.income_between("2026-03-01", "2026-03-31")] == ids
    pages = [r for r in fake.requests("GET", "/v1/orders")]
    assert len(pages) == 2 and "skip=120" in pages[1]["query"]
