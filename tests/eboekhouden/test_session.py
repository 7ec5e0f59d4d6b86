"""Sessions: opened lazily, shared, renewed once on a 401; an expired API token stops koppel."""

from __future__ import annotations

import httpx
import pytest

from application.errors import CredentialsError
from sandbox.eboekhouden import create_app
from workers.connectors.eboekhouden import EBoekhoudenClient

from .conftest import API_TOKEN, BASE


class Recording(httpx.BaseTransport):
    """Wraps a transport and remembers the Authorization header of every request."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.authorizations: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.authorizations.append(request.headers.get("Authorization"))
        return self.inner.handle_request(request)


def test_session_is_opened_lazily_and_reused(fake):
    recording = Recording(fake.transport)
    client = fake.client(transport=recording)
    assert fake.requests() == []  # constructing a client talks to nobody

    client.ledger_id("1300")
    client.ledger_id("8000")
    client.find_relation_by_email("nobody@example.nl")

    assert len(fake.requests("POST", "/v1/session")) == 1
    # the spec's quick start: the raw session token, no "Bearer"
    session_header = recording.authorizations[1]
    assert session_header and not session_header.lower().startswith("bearer")
    assert len(set(recording.authorizations[1:])) == 1


def test_expired_session_is_renewed_once_and_the_call_repeated(fake, client):
    client.ledger_id("1300")
    fake.post("clock", {"advance": 3601})  # the fake's clock passes the session's end

    assert client.ledger_id("8000") > 0

    log = [(r["method"], r["path"], r["status"]) for r in fake.requests()]
    assert log[-3:] == [("GET", "/v1/ledger", 401), ("POST", "/v1/session", 200),
                        ("GET", "/v1/ledger", 200)]


def test_revoked_sessions_are_renewed_for_a_post_too(fake, client):
    relation = fake.relation()
    client.ledger_id("1300")
    fake.post("sessions/expire")

    created = client.create_relation({"name": "Piet", "type": "P"})

    assert created["id"] != relation["id"]
    assert [r["status"] for r in fake.requests("POST", "/v1/relation")] == [401, 201]
    assert len(fake.get("relations")) == 2  # the repeated POST booked once


def test_expired_api_token_raises_credentials_error_without_the_token(fake):
    fake.post("token/expire")
    client = fake.client()

    with pytest.raises(CredentialsError) as caught:
        client.find_relation_by_email("jan@example.nl")

    error = caught.value
    assert error.code == "API_SESSION_004"
    assert "has expired" in error.message and "Koppelingen" in error.message
    for text in (str(error), repr(error), repr(error.detail), repr(client), repr(vars(client))):
        assert API_TOKEN not in text


def test_token_expiring_under_an_open_session_raises_credentials_error(fake, client):
    client.ledger_id("1300")
    fake.post("token/expire")

    with pytest.raises(CredentialsError) as caught:
        client.ledger_id("8000")
    assert caught.value.code == "API_SESSION_004"

    fake.post("token/renew")  # the merchant extended the token: koppel carries on
    assert client.ledger_id("8000") > 0


def test_renewed_with_a_new_token(fake):
    fake.post("token/expire")
    fake.post("token/renew", {"api_token": "brand-new-token"})

    with pytest.raises(CredentialsError) as caught:
        fake.client().ledger_id("1300")  # the old token is not the new one
    assert caught.value.code == "SECURITY_001"
    assert fake.client(api_token="brand-new-token").ledger_id("1300") > 0


def test_wrong_token_is_a_credentials_error(fake):
    with pytest.raises(CredentialsError) as caught:
        fake.client(api_token="not-the-token").ledger_id("1300")
    assert "Koppelingen" in caught.value.message


def test_client_refuses_a_source_e_boekhouden_would_refuse():
    with pytest.raises(ValueError):
        EBoekhoudenClient(BASE, API_TOKEN, source="koppel-app")  # hyphen: API_SESSION_002


def test_request_log_never_holds_a_token(fake, client):
    client.ledger_id("1300")
    fake.post("sessions/expire")
    client.ledger_id("8000")
    text = fake.control.get("/__sandbox/requests").text
    assert API_TOKEN not in text and "Authorization" not in text
    assert len(fake.requests()) == 5


def test_close_ends_the_session(fake):
    client = fake.client()
    client.ledger_id("1300")
    client.close()
    assert fake.requests("DELETE", "/v1/session")[0]["status"] == 204


# -- the fake's own session rules (the wire format, checked directly) ----------------------

@pytest.fixture
def wire():
    app = create_app(api_token=API_TOKEN)
    with httpx.Client(base_url=BASE, transport=httpx.WSGITransport(app=app)) as http:
        yield http


@pytest.mark.parametrize("body, status, code", [
    ({"accessToken": API_TOKEN}, 400, "API_SESSION_001"),
    ({"accessToken": API_TOKEN, "source": "koppel-app"}, 400, "API_SESSION_002"),
    ({"accessToken": API_TOKEN, "source": "elf chars x"}, 400, "API_SESSION_002"),
    ({"accessToken": "", "source": "koppel"}, 400, "API_SESSION_003"),
    ({"accessToken": "wrong", "source": "koppel"}, 403, "SECURITY_001"),
])
def test_fake_session_errors(wire, body, status, code):
    response = wire.post("/v1/session", json=body)
    assert response.status_code == status
    error = response.json()
    assert error["code"] == code and error["status"] == status
    assert error["type"] in ("validation", "security") and error["title"]


def test_fake_accepts_raw_and_bearer_tokens_and_refuses_none(wire):
    token = wire.post("/v1/session", json={"accessToken": API_TOKEN, "source": "web shop"})
    session = token.json()["token"]
    assert token.json()["expiresIn"] == 3600
    assert wire.get("/v1/ledger", headers={"Authorization": session}).status_code == 200
    assert wire.get("/v1/ledger", headers={"Authorization": f"Bearer {session}"}).status_code == 200
    missing = wire.get("/v1/ledger")
    assert (missing.status_code, missing.content) == (401, b"")  # the document gives no body
    assert wire.delete("/v1/session", headers={"Authorization": session}).status_code == 204
    assert wire.get("/v1/ledger", headers={"Authorization": session}).status_code == 401
