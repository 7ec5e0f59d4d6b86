"""Search by order number, customer name or e-mail, limited to what the reader may see."""

from __future__ import annotations

import pytest

from projections.search import search_documents
from tests.e2e.orders import FORMULA_NAME, post_orders


@pytest.fixture
def found(harness):
    items = post_orders(harness, 5, seed=43)
    harness.runtime.projector.catch_up()
    return items, lambda text, **kw: search_documents(harness.runtime.store, text, **kw)


def test_by_number_name_and_email(found):
    items, search = found
    second = items[1]["order"]
    number = str(second["ordernumber_full"])
    assert search(number)[0]["number"] == number  # the exact match first
    billing = second["customer"]["billingaddress"]
    name = billing["company"] or billing["last_name"]
    by_name = search(name.upper()[1:-1])
    assert number in [row["number"] for row in by_name]
    email = second["customer"]["email"]
    assert [row["number"] for row in search(f"  {email.upper()} ")] == [number]
    assert search(FORMULA_NAME)[0]["customer_name"] == FORMULA_NAME


def test_what_is_no_match_finds_nothing(found):
    _, search = found
    assert search("") == [] and search("   ") == []
    assert search("%") == [] and search("_") == []  # LIKE's wildcards are taken literally
    assert search("nobody-by-this-name") == []


def test_a_reader_finds_only_their_connections(found, harness):
    items, search = found
    number = str(items[0]["order"]["ordernumber_full"])
    assert search(number, scope=[str(harness.connection.id)])
    assert search(number, scope=[]) == []
    assert search(number, scope=["00000000-0000-0000-0000-000000000000"]) == []
