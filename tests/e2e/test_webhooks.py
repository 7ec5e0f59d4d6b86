"""Bad input at the webhook endpoint gets a 4xx and changes nothing."""

from __future__ import annotations

import pytest

from web.app import create_app


def _nothing_recorded(harness):
    assert harness.runtime.inbox.count_pending() == 0
    assert harness.rows() == []
    # only the connection (created, its start date) and its merchant (created, granted it)
    assert len(harness.runtime.app.history(harness.connection.id)) == 2
    assert harness.runtime.app.recorder.max_notification_id() == 4


@pytest.fixture
def sqlite_harness(sqlite_url):
    from tests.harness import Harness

    h = Harness(sqlite_url)
    yield h
    h.close()


def test_a_wrong_token_is_an_unknown_address(sqlite_harness):
    h = sqlite_harness
    path = h.webhook_path().replace(h.webhook_path().split("/")[3], "forged-token")
    assert h.client.post(path, json={"id": 1}).status_code == 404
    other_connection = path.replace(str(h.connection.id), "00000000-0000-0000-0000-000000000000")
    assert h.client.post(other_connection, json={"id": 1}).status_code == 404
    assert h.client.post("/webhooks/not-a-uuid/x/orders.created", json={"id": 1}).status_code == 404
    _nothing_recorded(h)


@pytest.mark.parametrize("body, problem", [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"id": "abc", "order_number": 1}', "not a whole number"),
    (b'{"id": true}', "has no id"),
    (b'{"id": -4, "order_number": 1}', "names order -4"),
    (b'{"id": 7, "href": "http://shop/api/rest/v1/invoices/7"}', "is about orders"),
    (b'{"id": 7, "href": "http://shop/api/rest/v1/orders/8"}', "differs from its href"),
    (b"", "not valid JSON"),
    (b'{"id": Infinity, "order_number": 1}', "not valid JSON"),
    (b'{"id": -Infinity, "order_number": 1}', "not valid JSON"),
    (b'{"id": NaN, "order_number": 1}', "not valid JSON"),
    (b'{"id": 9223372036854775808, "order_number": 1}', "out of range"),
    (b'{"id": "9223372036854775808", "order_number": 1}', "out of range"),
    (b'{"id": 1e400, "order_number": 1}', "out of range"),
    (b'{"id": 5, "href": "http://shop/api/rest/v1/orders/99999999999999999999"}', "differs"),
])
def test_malformed_bodies_are_refused_with_a_reason(sqlite_harness, body, problem):
    response = sqlite_harness.client.post(sqlite_harness.webhook_path(), data=body,
                                          content_type="application/json")
    assert response.status_code == 400
    assert problem in response.get_json()["error"]
    _nothing_recorded(sqlite_harness)


def test_a_huge_body_is_refused_before_it_is_read(sqlite_harness):
    huge = b'{"id": 1, "pad": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    response = sqlite_harness.client.post(sqlite_harness.webhook_path(), data=huge,
                                          content_type="application/json")
    assert response.status_code == 413
    _nothing_recorded(sqlite_harness)


def test_an_unknown_event_is_refused(sqlite_harness):
    path = sqlite_harness.webhook_path().replace("orders.created", "orders.exploded")
    response = sqlite_harness.client.post(path, json={"id": 1})
    assert response.status_code == 400 and "unknown event" in response.get_json()["error"]
    _nothing_recorded(sqlite_harness)


def test_a_valid_webhook_is_written_down_before_it_is_answered(sqlite_harness):
    """No worker runs here: the inbox alone keeps the promise, and the dispatcher resends it."""
    h = sqlite_harness
    response = h.send_webhook(4242)
    assert response.status_code == 202
    assert h.runtime.inbox.count_pending() == 1
    pending = h.runtime.inbox.pending("9999")
    assert [(p["kind"], p["shop_id"], p["event"]) for p in pending] == [
        ("order", 4242, "orders.created")]


def test_a_forged_body_naming_a_foreign_order_records_nothing(sqlite_harness):
    """The body is only a hint: the order is fetched over the signed API, and the shop has no
    order 999999, so no document appears."""
    h = sqlite_harness
    h.runtime.start_workers(1)
    assert h.send_webhook(999999).status_code == 202
    h.wait_until(lambda: h.runtime.inbox.count_pending() == 0, timeout=20)
    assert h.rows() == []


def _other_connection(h):
    from tests.harness import BOOKS_FROM, test_settings

    other, _ = h.runtime.connections.save(
        test_settings(h.shop_url, **{'name = "Demo shop"': 'name = "Other shop"'}), by="test",
        start_date=BOOKS_FROM)
    return other


def _path(h, connection, event: str = "orders.created") -> str:
    return h.runtime.webhook_address(connection.id, event)[len("http://koppel.test"):]


def _post(h, path: str, shop_id: int, client=None):
    return (client or h.client).post(path, json={
        "id": shop_id, "href": f"{h.shop_url}/api/rest/v1/orders/{shop_id}"})


def test_rotating_one_connections_token_refuses_its_old_address_only(harness):
    h = harness
    other = _other_connection(h)
    old, others = h.webhook_path(), _path(h, other)
    assert _post(h, old, 1).status_code == 202 and _post(h, others, 2).status_code == 202

    assert h.runtime.connections.rotate_webhook_token(h.connection.id, by="anna") == 1
    new = h.webhook_path()
    assert new != old and new.split("/")[2] == str(h.connection.id)
    assert _post(h, old, 3).status_code == 404  # the old token is refused, like a forged one
    assert _post(h, new, 4).status_code == 202
    assert _post(h, others, 5).status_code == 202  # the other connection keeps its address
    assert _path(h, other) == others
    assert sorted(row["shop_id"] for row in h.runtime.inbox.pending("9999")) == [1, 2, 4, 5]

    # Rotating again retires the second token too; the event holds a counter, never a token.
    h.runtime.connections.rotate_webhook_token(h.connection.id, by="anna")
    assert _post(h, new, 6).status_code == 404 and _post(h, h.webhook_path(), 7).status_code == 202
    rotated = [e for e in h.runtime.app.history(h.connection.id)
               if type(e).__name__ == "WebhookTokenRotated"]
    assert [(e.generation, e.by) for e in rotated] == [(1, "anna"), (2, "anna")]
    for token in (old, new, h.webhook_path()):
        assert token.split("/")[3] not in repr(vars(rotated[0])) + repr(vars(rotated[1]))


def test_a_rotation_in_one_process_refuses_the_old_token_in_another_at_once(harness):
    """Each web process keeps the connection it last read; a newer event in the store (here:
    the rotation, recorded by another process) is seen on the next webhook."""
    from web.bootstrap import bootstrap

    h = harness
    other = bootstrap(h.config, environ={}, transport_for=lambda url: None)
    try:
        client = create_app(other).test_client()
        old = h.webhook_path()
        assert _post(h, old, 1, client).status_code == 202  # read, and kept
        h.runtime.connections.rotate_webhook_token(h.connection.id, by="anna")
        assert _post(h, old, 2, client).status_code == 404
        assert _post(h, h.webhook_path(), 3, client).status_code == 202
        assert other.connections.get(h.connection.id).webhook_generation == 1
    finally:
        other.stop()

