"""Authentication: API key, the OAuth2 connect flow, refresh tokens that rotate and are
single-use, revocation, and secrets kept out of everything a merchant or support sees."""

from __future__ import annotations

import threading

import httpx
import pytest

from application.errors import CredentialsError, TransientError
from workers.connectors.billit import RECONNECT, BillitClient, MemoryTokenStore

from .conftest import API_KEY, CLIENT_ID, CLIENT_SECRET, PARTY_ID, REDIRECT


def _secrets_absent(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret and secret not in text


def test_api_key_reads_the_company(fake, client):
    info = client.account_information()
    assert info["Companies"][0]["PartyID"] == PARTY_ID
    [logged] = fake.requests("GET", "/v1/account/accountInformation")
    assert logged["status"] == 200


def test_wrong_api_key_is_a_credentials_error_without_the_key(fake):
    wrong = "wrong-key-0c9d8e7f"
    with fake.client(api_key=wrong) as client, pytest.raises(CredentialsError) as caught:
        client.account_information()
    assert caught.value.code == "ApiKeyNotValid"
    assert "API key" in caught.value.message
    _secrets_absent(str(caught.value) + repr(caught.value.detail) + repr(client), wrong)
    # a refused key is not repeated: one request, not a retry loop
    assert len(fake.requests("GET", "/v1/account/accountInformation")) == 1


def test_foreign_party_id_is_refused(fake):
    with fake.client(party_id="999") as client, pytest.raises(CredentialsError) as caught:
        client.account_information()
    assert caught.value.code == "NoAccessToParty" and "999" in caught.value.message


def test_no_credentials_is_401_in_billits_envelope(fake):
    answer = fake.control.get("/v1/orders")
    assert answer.status_code == 401
    assert answer.json() == {"errors": [{"Code": "InvalidAccessToken",
                                         "Description": "The access token is not valid"}]}


def test_connect_flow_gives_tokens_that_work(fake):
    store = MemoryTokenStore()
    client = fake.client(tokens=store)
    url = client.authorize_url(REDIRECT, "state-42")
    assert url.startswith(f"{fake.base_url}/Account/Logon?") and f"client_id={CLIENT_ID}" in url
    answer = fake.authorize(client, state="state-42")
    assert answer["state"] == "state-42" and answer["code"]

    tokens = client.exchange_code(answer["code"], REDIRECT)
    assert store.load() == tokens
    assert tokens["access_token"] and tokens["refresh_token"] and tokens["expires_at"] > 0
    assert client.account_information()["Companies"][0]["PartyID"] == PARTY_ID
    # the code is single-use
    with pytest.raises(CredentialsError):
        client.exchange_code(answer["code"], REDIRECT)


def test_authorization_code_must_come_back_to_the_same_address(fake):
    client = fake.client(tokens=MemoryTokenStore())
    code = fake.authorize(client)["code"]
    with pytest.raises(CredentialsError):
        client.exchange_code(code, "https://elsewhere.example/callback")


def test_denied_authorization_redirects_with_access_denied(fake):
    fake.post("oauth/deny", {"deny": True})
    answer = fake.authorize(fake.client(tokens=MemoryTokenStore()), state="s")
    assert answer == {"error": "access_denied", "state": "s"}


def test_expired_access_token_is_refreshed_once_and_the_request_repeated(fake):
    store = MemoryTokenStore()
    client = fake.connect(store)
    before = store.load()
    fake.post("tokens/expire")

    assert client.account_information()["Companies"]
    after = store.load()
    assert after["refresh_token"] != before["refresh_token"]
    assert after["access_token"] != before["access_token"]
    assert [r["status"] for r in fake.requests("GET", "/v1/account/accountInformation")] == [
        401, 200]
    assert [r["grant"] for r in fake.requests("POST", "/OAuth2/token")] == [
        "authorization_code", "refresh_token"]


def test_token_is_refreshed_before_it_expires(fake):
    store = MemoryTokenStore()
    client = fake.connect(store)
    tokens = store.load()
    store.save({**tokens, "expires_at": tokens["expires_at"] - 3550})  # 50 s left
    client.account_information()
    # refreshed up front: no request was refused
    assert [r["status"] for r in fake.requests("GET", "/v1/account/accountInformation")] == [200]
    assert store.load()["refresh_token"] != tokens["refresh_token"]


def test_refresh_token_is_single_use(fake):
    store = MemoryTokenStore()
    client = fake.connect(store)
    old = store.load()["refresh_token"]
    fake.post("tokens/expire")
    client.account_information()  # spends ``old``

    again = fake.control.post("/OAuth2/token", json={
        "grant_type": "refresh_token", "refresh_token": old, "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET})
    assert again.status_code == 400
    assert again.json()["errors"][0]["Code"] == "InvalidGrant"
    # the new one still works
    fresh = store.load()["refresh_token"]
    ok = fake.control.post("/OAuth2/token", json={
        "grant_type": "refresh_token", "refresh_token": fresh, "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET})
    assert ok.status_code == 200 and ok.json()["expires_in"] == 3600


class RecordingStore(MemoryTokenStore):
    """Writes every save into a shared journal, so a test can order saves and requests."""

    def __init__(self, journal: list, fail: bool = False) -> None:
        super().__init__()
        self.journal, self.fail = journal, fail

    def save(self, tokens: dict) -> None:
        if self.fail and self.load() is not None:
            raise OSError("the event store is down")
        self.journal.append(("save", tokens["access_token"]))
        super().save(tokens)


def _journaling_transport(fake, journal: list) -> httpx.BaseTransport:
    inner = fake.transport

    class Journal(httpx.BaseTransport):
        def handle_request(self, request):
            auth = request.headers.get("Authorization", "")
            if auth.startswith("Bearer "):
                journal.append(("use", auth[7:]))
            return inner.handle_request(request)

    return Journal()


def test_new_tokens_are_saved_before_they_are_used(fake):
    journal: list = []
    store = RecordingStore(journal)
    client = fake.connect(store, transport=_journaling_transport(fake, journal))
    fake.post("tokens/expire")
    client.account_information()

    new_access = store.load()["access_token"]
    assert journal.index(("save", new_access)) < journal.index(("use", new_access))


def test_new_tokens_are_never_used_when_saving_them_fails(fake):
    journal: list = []
    store = RecordingStore(journal, fail=True)
    client = fake.connect(store, transport=_journaling_transport(fake, journal))
    connected = store.load()["access_token"]
    fake.post("tokens/expire")
    with pytest.raises(OSError):
        client.account_information()
    used = {token for kind, token in journal if kind == "use"}
    assert used == {connected}  # only the old, refused token ever went out


def test_two_threads_needing_a_refresh_spend_the_refresh_token_once(fake):
    store = MemoryTokenStore()
    client = fake.connect(store)
    fake.post("tokens/expire")
    errors, barrier = [], threading.Barrier(8)

    def work():
        try:
            barrier.wait()
            client.account_information()
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    refreshes = [r for r in fake.requests("POST", "/OAuth2/token") if r["grant"] == "refresh_token"]
    assert [r["status"] for r in refreshes] == [200]
    assert fake.get("tokens")["refresh_used"] == 1


def test_two_clients_sharing_a_store_refresh_once(fake):
    store = MemoryTokenStore()
    fake.connect(store)
    fake.post("tokens/expire")
    first, second = fake.client(tokens=store), fake.client(tokens=store)
    barrier = threading.Barrier(2)
    results = []

    def work(client):
        barrier.wait()
        results.append(client.account_information()["Companies"][0]["PartyID"])

    threads = [threading.Thread(target=work, args=(c,)) for c in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [PARTY_ID, PARTY_ID]
    refreshes = [r for r in fake.requests("POST", "/OAuth2/token") if r["grant"] == "refresh_token"]
    assert len(refreshes) == 1


class LaggingStore(MemoryTokenStore):
    """A store another process just wrote to: the next ``stale_reads`` loads still show the
    tokens from before (as a replica or an unsynchronised cache would)."""

    def __init__(self, tokens: dict, stale: dict, stale_reads: int) -> None:
        super().__init__(tokens)
        self.stale, self.stale_reads = stale, stale_reads

    def load(self):
        if self.stale_reads > 0:
            self.stale_reads -= 1
            return dict(self.stale)
        return super().load()


def test_refresh_lost_to_another_process_uses_the_other_process_tokens(fake):
    shared = MemoryTokenStore()
    other = fake.connect(shared)
    stale = shared.load()
    fake.post("tokens/expire")
    other.account_information()  # the other process spends the refresh token and saves

    # three stale reads: the first request's header, the forced refresh after its 401, the
    # re-read under the lock; so this client spends the (already spent) refresh token
    lagging = LaggingStore(shared.load(), stale=stale, stale_reads=3)
    with fake.client(tokens=lagging) as client:
        assert client.account_information()["Companies"]
    refused = [r for r in fake.requests("POST", "/OAuth2/token") if r["status"] == 400]
    assert len(refused) == 1  # it tried, was refused, and then found the saved tokens


def test_revoked_refresh_means_reconnect(fake):
    store = MemoryTokenStore()
    client = fake.connect(store)
    fake.post("refresh/revoke")
    fake.post("tokens/expire")
    with pytest.raises(CredentialsError) as caught:
        client.account_information()
    assert caught.value.message == RECONNECT
    tokens = store.load()
    _secrets_absent(str(caught.value) + repr(caught.value) + repr(caught.value.detail)
                    + repr(client) + repr(store),
                    tokens["access_token"], tokens["refresh_token"], CLIENT_SECRET)


def test_revoked_access_token_refreshes_then_reconnect(fake):
    client = fake.connect()
    fake.post("refresh/revoke", {"access_tokens": True})
    with pytest.raises(CredentialsError) as caught:
        client.account_information()
    assert caught.value.message == RECONNECT
    assert [r["status"] for r in fake.requests("GET", "/v1/account/accountInformation")] == [401]


def test_not_connected_is_a_credentials_error(fake):
    with pytest.raises(CredentialsError) as caught:
        fake.client(tokens=MemoryTokenStore()).account_information()
    assert caught.value.message == RECONNECT and fake.requests() == []


def test_tokens_in_an_error_body_never_reach_the_exception():
    """A server (or proxy) that echoes the credentials in its error: the client scrubs."""
    seen = {}

    def echo(request: httpx.Request) -> httpx.Response:
        seen["auth"] = request.headers.get("ApiKey")
        return httpx.Response(400, json={"errors": [{
            "Code": "GenericError", "Description": f"bad request with key {seen['auth']}"}]})

    client = BillitClient("http://billit.test", api_key=API_KEY, party_id="1",
                          transport=httpx.MockTransport(echo))
    with pytest.raises(Exception) as caught:
        client.account_information()
    assert seen["auth"] == API_KEY  # the key was sent ...
    text = str(caught.value) + repr(caught.value.detail) + repr(client)
    _secrets_absent(text, API_KEY)  # ... and never came back out
    assert "***" in repr(caught.value.detail)


def test_billit_outage_during_refresh_is_transient_not_reconnect(fake):
    """A 500 from the token endpoint says nothing about koppel's access: retry later."""
    store = MemoryTokenStore()
    client = fake.connect(store)
    before = store.load()
    fake.post("tokens/expire")
    fake.fault(mode="error", method="POST", path="/OAuth2/token", count=1)
    with pytest.raises(TransientError):
        client.account_information()
    assert store.load() == before  # nothing spent, nothing overwritten
    assert client.account_information()["Companies"]  # and the next try refreshes fine
