"""The fake checks every API request's signature and signs every answer (reference 1a).

These tests sign by hand (not with the client) so that fake and client are checked
independently of each other.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from .conftest import PUBLIC, ROOT, SECRET, seed_order


def hand_sign(method: str, uri: str, body: bytes, stamp: str, *, public=PUBLIC, secret=SECRET):
    raw = f"{public}|{method}|{uri}|".encode() + body + f"|{stamp}".encode()
    return hmac.new(secret.encode(), raw, hashlib.sha512).hexdigest()


def stamp_at(delta=timedelta(0), fmt="%Y-%m-%dT%H:%M:%SZ") -> str:
    return (datetime.now(timezone.utc) + delta).strftime(fmt)


def signed_get(http: httpx.Client, uri: str, *, stamp=None, public=PUBLIC, secret=SECRET,
               hash_override=None):
    stamp = stamp or stamp_at()
    headers = {"x-public": public, "x-date": stamp,
               "x-hash": hash_override or hand_sign("GET", uri, b"", stamp, public=public,
                                                    secret=secret)}
    return http.get(uri, headers=headers)


@pytest.mark.parametrize("fmt", ["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S+00:00",
                                 "%Y-%m-%dT%H:%M:%S+0000"])
def test_accepts_every_date_spelling_working_clients_send(control, fmt):
    response = signed_get(control, "/api/rest/v1/orders/?start=0&size=5&orderby=id_desc",
                          stamp=stamp_at(fmt=fmt))
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []


def test_accepts_a_date_without_zero_padding_and_in_another_zone(control):
    # One client in use writes 2026-11-30T4:8:56Z; CCV's PHP date parser reads it.
    now = datetime.now(timezone.utc)
    bare = f"{now.year}-{now.month}-{now.day}T{now.hour}:{now.minute}:{now.second}Z"
    amsterdam = now.astimezone(timezone(timedelta(hours=1))).strftime("%Y-%m-%dT%H:%M:%S+0100")
    for stamp in (bare, amsterdam):
        assert signed_get(control, "/api/rest/v1/orders/", stamp=stamp).status_code == 200
    late = now + timedelta(minutes=6)
    stale_bare = f"{late.year}-{late.month}-{late.day}T{late.hour}:{late.minute}:{late.second}Z"
    assert signed_get(control, "/api/rest/v1/orders/", stamp=stale_bare).json()["code"] == \
        "401.11"


def test_accepts_a_date_within_the_skew(control):
    assert signed_get(control, "/api/rest/v1/orders/",
                      stamp=stamp_at(-timedelta(minutes=4))).status_code == 200


@pytest.mark.parametrize("case, kwargs, code", [
    ("bad hash", {"hash_override": "ab" * 64}, "401.10"),
    ("wrong secret", {"secret": "not-the-secret"}, "401.10"),
    # Dates are made when the test runs, not when it is collected: a suite that takes longer
    # than the skew to reach it would otherwise send a "future" date that is no longer one.
    ("stale date", {"stamp": lambda: stamp_at(-timedelta(minutes=6))}, "401.11"),
    ("future date", {"stamp": lambda: stamp_at(timedelta(minutes=6))}, "401.11"),
    ("garbage date", {"stamp": "yesterday"}, "401.11"),
    ("unknown public key", {"public": "someone-else"}, "401.12"),
])
def test_refuses_a_bad_signature_with_ccvs_error_body(control, case, kwargs, code):
    kwargs = {key: value() if callable(value) else value for key, value in kwargs.items()}
    response = signed_get(control, "/api/rest/v1/orders/", **kwargs)
    assert response.status_code == 401, case
    body = response.json()
    assert body["code"] == code and body["status"] == 401
    assert isinstance(body["developermessage"], str) and body["developermessage"]


def test_the_query_string_is_part_of_the_signed_uri(control):
    stamp = stamp_at()
    headers = {"x-public": PUBLIC, "x-date": stamp,
               "x-hash": hand_sign("GET", "/api/rest/v1/orders/", b"", stamp)}
    response = control.get("/api/rest/v1/orders/?start=0&size=5", headers=headers)
    assert response.status_code == 401


def test_refuses_missing_headers(control):
    response = control.get("/api/rest/v1/orders/")
    assert response.status_code == 401 and response.json()["code"] == "401.13"


def test_the_body_is_part_of_the_signature(control):
    body = b'{"event":"orders.created","address":"https://koppel.test/h","is_active":true}'
    stamp = stamp_at()
    uri = "/api/rest/v1/webhooks"
    good = hand_sign("POST", uri, body, stamp)
    ok = control.post(uri, content=body, headers={"x-public": PUBLIC, "x-date": stamp,
                                                  "x-hash": good})
    assert ok.status_code == 201, ok.text
    assert ok.json()["key"] and ok.json()["createdate"].endswith("Z")
    tampered = body.replace(b"koppel.test", b"evil.test")
    refused = control.post(uri, content=tampered, headers={"x-public": PUBLIC, "x-date": stamp,
                                                           "x-hash": good})
    assert refused.status_code == 401


def test_every_answer_is_signed_over_its_raw_body(control):
    seed_order(control, {"customer": {"email": "zoë@example.nl"}})
    uri = "/api/rest/v1/orders/?start=0&size=5"
    response = signed_get(control, uri)
    assert response.status_code == 200
    stamp = response.headers["x-date"]
    assert response.headers["x-hash"] == hand_sign("GET", uri, response.content, stamp)
    assert "zoë".encode() in response.content  # unicode unescaped, signed as sent
    # error answers are signed too
    missing = signed_get(control, "/api/rest/v1/orders/999/")
    assert missing.status_code == 404
    assert missing.headers["x-hash"] == hand_sign("GET", "/api/rest/v1/orders/999/",
                                                  missing.content, missing.headers["x-date"])
    assert missing.json()["status"] == 404


def test_control_api_needs_no_signature_and_is_not_signed(control):
    response = control.get("/__sandbox/deliveries")
    assert response.status_code == 200 and "x-hash" not in response.headers


def test_unknown_resource_answers_404_20(control):
    response = signed_get(control, "/api/rest/v1/unicorns/")
    assert response.status_code == 404 and response.json()["code"] == "404.20"


def test_paging_links_and_filters_on_the_wire(control):
    for i in range(7):
        seed_order(control, {"paid": i % 2 == 0, "create_date": f"2026-03-0{i + 1}T10:00:00Z"})
    page = signed_get(control, "/api/rest/v1/orders/?is_paid=true&start=0&size=2&orderby=id_desc")
    body = page.json()
    assert [o["paid"] for o in body["items"]] == [True, True]
    assert body["items"][0]["id"] > body["items"][1]["id"]
    assert body["start"] == 0 and body["size"] == 2 and body["previous"] is None
    assert body["next"].startswith(f"{ROOT}/api/rest/v1/orders/?")
    assert "is_paid=true" in body["next"] and "start=2" in body["next"]
    last = signed_get(control, "/api/rest/v1/orders/?is_paid=true&start=2&size=2").json()
    assert len(last["items"]) == 2 and last["next"] is None and last["previous"]
    since = signed_get(control, "/api/rest/v1/orders/?min_create_date=2026-03-05").json()
    assert [o["create_date"][:10] for o in since["items"]] == [
        "2026-03-05", "2026-03-06", "2026-03-07"]
    bad = signed_get(control, "/api/rest/v1/orders/?orderby=colour")
    assert bad.status_code == 400 and bad.json()["code"] == "400.10"
