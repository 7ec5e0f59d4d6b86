"""Products (R7.3 ``post_to_products``): a product code in ``ProductID`` becomes a Billit
product id; the product is created once, then found."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from application.errors import RejectedError
from workers.connectors.billit import BillitClient

from .conftest import billit_settings, bundles, order_for


def _codes(body: dict) -> list[str]:
    return [l["ProductID"] for l in body["OrderLines"] if "ProductID" in l]


def test_products_on_creates_each_product_once_then_finds_it(fake, client):
    settings = billit_settings(products=True)
    first, second = bundles("order", 2, seed=5)
    request, _ = order_for(first, settings, "conn-1:order:1")
    codes = _codes(request["body"])
    assert codes and all(isinstance(c, str) for c in codes)

    body = client.resolve_products(request["body"])
    assert request["body"]["OrderLines"][0]["ProductID"] == codes[0]  # the input is untouched
    client.create_order(body, "conn-1:order:1")
    products = fake.get("products")
    assert sorted(p["Reference"] for p in products) == sorted(set(codes))
    by_ref = {p["Reference"]: p["ProductID"] for p in products}
    [stored] = fake.get("orders")
    assert [l["ProductID"] for l in stored["OrderLines"] if l.get("ProductID")] == [
        by_ref[c] for c in codes]

    # a second client (a later job) finds them instead of creating them again
    with fake.client() as later:
        request2, _ = order_for(second, settings, "conn-1:order:2")
        later.create_order(later.resolve_products(request2["body"]), "conn-1:order:2")
    references = [p["Reference"] for p in fake.get("products")]
    assert len(references) == len(set(references))  # never a duplicate product


def test_created_product_carries_the_shops_price_and_vat(fake, client):
    settings = billit_settings(products=True)
    request, _ = order_for(bundles("order")[0], settings, "conn-1:order:3")
    line = next(l for l in request["body"]["OrderLines"] if "ProductID" in l)
    client.resolve_products(request["body"])
    product = next(p for p in fake.get("products") if p["Reference"] == line["ProductID"])
    assert Decimal(str(product["AmountIncl"])) == line["UnitPriceIncl"]
    assert Decimal(str(product["VAT"])) == line["VATPercentage"]
    assert product["Description"] == line["Description"]


def test_existing_product_is_found_not_created(fake, client):
    [existing] = fake.post("products", {"Reference": "MOK-01", "Description": "Mok",
                                        "AmountExcl": 9.0, "VAT": 21})
    assert client.find_product("MOK-01")["id"] == existing["ProductID"]
    assert client.find_product("MOK-0") is None  # exact reference, not a prefix
    assert client.product_id("MOK-01") == existing["ProductID"]
    assert client.product_id("MOK-01") == existing["ProductID"]  # cached: no second lookup
    assert len(fake.requests("GET", "/v1/products")) == 3  # two finds, one product_id
    assert fake.requests("POST", "/v1/products") == []


def test_products_off_sends_no_product_and_touches_no_products(fake, client):
    request, _ = order_for(bundles("order")[0], billit_settings(products=False), "c:o:4")
    assert _codes(request["body"]) == []
    assert any("Reference" in l for l in request["body"]["OrderLines"])  # codes still sent
    client.create_order(client.resolve_products(request["body"]), "c:o:4")
    assert fake.requests(path="/v1/products") == []
    assert fake.get("products") == []


def test_an_unresolved_product_code_is_refused_by_the_fake(client):
    """Sending the code itself would be a connector bug: the fake insists on an id."""
    request, _ = order_for(bundles("order")[0], billit_settings(products=True), "c:o:5")
    with pytest.raises(RejectedError) as caught:
        client.create_order(request["body"], "c:o:5")
    assert caught.value.code == "GenericError" and "ProductID" in caught.value.message


def test_create_product_answers_an_id(fake, client):
    created = client.create_product({"Reference": "NEW-1", "Description": "New",
                                     "AmountExcl": Decimal("10.00"), "VAT": Decimal("21")})
    [product] = fake.get("products")
    assert created == {"id": product["ProductID"]}
    assert Decimal(str(product["AmountIncl"])) == Decimal("12.10")


def test_find_product_falls_back_to_full_text_search_when_the_filter_is_refused():
    """Filtering products on Reference is undocumented: if Billit refuses it, search."""
    seen = []

    def billit(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.url.params))
        if "$filter" in request.url.params:
            return httpx.Response(400, json={"errors": [{
                "Code": "GenericError",
                "Description": "Could not find a property named 'Reference'"}]})
        return httpx.Response(200, json={"Items": [
            {"ProductID": 7, "Reference": "MOK-01-XL"}, {"ProductID": 8, "Reference": "MOK-01"}],
            "NextPageLink": None})

    client = BillitClient("http://billit.test", api_key="k" * 12, party_id="1",
                          transport=httpx.MockTransport(billit))
    assert client.find_product("MOK-01")["id"] == 8
    assert seen[1]["fullTextSearch"] == "MOK-01"
