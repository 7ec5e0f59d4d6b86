"""Relations (R6): match by e-mail, list codes over pages, create, REL_049."""

from __future__ import annotations

import pytest

from application.errors import DuplicateError, RejectedError


def test_find_relation_by_email_is_case_insensitive(fake, client):
    made = fake.relation("Jan Jansen", emailAddress="Jan.Jansen@Example.nl", code="JanJansen")
    fake.relation("Piet Pieters", emailAddress="piet@example.nl")

    found = client.find_relation_by_email("jan.jansen@example.NL")

    assert found == {"id": made["id"], "code": "JanJansen", "type": "P"}
    assert client.find_relation_by_email("jan@example.nl") is None


def test_empty_email_matches_nobody(fake, client):
    fake.relation("Zonder Mail")  # a relation without an address must not match "no address"
    assert client.find_relation_by_email("") is None
    assert client.find_relation_by_email("  ") is None


def test_find_relation_by_code(fake, client):
    made = fake.relation("Vaste Klant", code="KASSA")
    fake.relation("Other", code="KASSA2")
    assert client.find_relation_by_code("KASSA")["id"] == made["id"]
    assert client.find_relation_by_code("KASS") is None  # equality, not a prefix


def test_relation_codes_pages_through_every_page(fake):
    fake.post("relations", [{"name": "Klaartje Pietersen", "code": "KlaartjePi"}]
              + [{"name": f"Klaartje {i}", "code": f"KlaartjePi{i}"} for i in range(1, 25)]
              + [{"name": "Klaas", "code": "KlaasVaak"}, {"name": "Other", "code": "XKlaartjePi"}])
    client = fake.client(page_size=10)

    codes = client.relation_codes("KlaartjePi")

    assert codes == {"KlaartjePi"} | {f"KlaartjePi{i}" for i in range(1, 25)}
    pages = fake.requests("GET", "/v1/relation")
    assert len(pages) == 3  # 10 + 10 + 5: the short page ends the listing
    assert "code%5Blike%5D=KlaartjePi%25" in pages[0]["query"]


def test_relation_codes_with_no_match_is_empty(fake, client):
    fake.relation("Someone", code="ABC")
    assert client.relation_codes("Zzz") == set()


def test_create_relation_then_rel_049_on_the_same_code(fake, client):
    body = {"type": "P", "name": "Klaartje Pietersen", "code": "KlaartjePi",
            "emailAddress": "klaartje@example.nl", "city": "Utrecht", "country": "Nederland"}

    created = client.create_relation(body)
    assert created["code"] == "KlaartjePi" and created["id"] > 100000  # an id, not a code
    stored = fake.get("relations")[0]
    assert stored["emailAddress"] == "klaartje@example.nl" and stored["type"] == "P"

    with pytest.raises(DuplicateError) as caught:
        client.create_relation(dict(body, code="klaartjepi"))  # codes compare case-insensitively
    assert caught.value.code == "REL_049"
    assert isinstance(caught.value, RejectedError)  # callers that only know Rejected still work
    assert caught.value.detail["code"] == "REL_049"
    assert len(fake.get("relations")) == 1


def test_created_relation_without_code_gets_one_from_the_server(client):
    created = client.create_relation({"name": "Anon BV"})
    assert created["code"]
    assert client.get_relation(created["id"])["type"] == "B"  # empty type means business


@pytest.mark.parametrize("body, code", [
    ({"type": "P"}, "REL_002"),
    ({"name": "X", "type": "Q"}, "REL_001"),
    ({"name": "X", "emailAddress": "not-an-address"}, "REL_023"),
    ({"name": "X", "code": "ABCDEFGHIJKLMNOP"}, "REL_006"),
    ({"name": "X", "companyRegistrationNumber": "KVK123"}, "REL_008"),
])
def test_create_relation_validation_is_mapped(fake, client, body, code):
    with pytest.raises(RejectedError) as caught:
        client.create_relation(body)
    assert caught.value.code == code
    assert not isinstance(caught.value, DuplicateError)
    assert f"e-Boekhouden {code}" in caught.value.message
    assert fake.get("relations") == []


def test_get_relation_unknown_is_none(client):
    assert client.get_relation(1) is None
