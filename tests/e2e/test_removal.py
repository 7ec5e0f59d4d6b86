"""Removing a connection: kept history stays readable and nothing new is booked; erased
history leaves no customer data readable anywhere koppel stores it (the event store, the read
model, the pages), only a tombstone with numbers and ledger references."""

from __future__ import annotations

from uuid import UUID

import pytest

from application import removal
from domain.document import Document
from sandbox.generator import generate
from tests.harness import test_settings as settings_for


def _book(h, count: int, seed: int) -> tuple[list[str], list[str]]:
    """``count`` orders booked (or failed) through the sandbox; their ids and the customers'
    personal details as the shop sent them."""
    items = [i for i in generate(count * 4, seed, unpaid_share=0.0, scopes={"domestic"})
             if i["kind"] == "order" and i["expect"]["outcome"] in ("posted", "failed")
             and i["order"]["customer"]["billingaddress"]["full_name"]][:count]
    ids, personal = [], []
    for item in items:
        doc_id = h.runtime.processing.intake(h.connection.id, "order", h.put_order(item)["id"],
                                             "test")
        h.process(doc_id)
        ids.append(str(doc_id))
        customer = item["order"]["customer"]
        personal += [customer["email"], customer["billingaddress"]["full_name"]]
        if customer["billingaddress"].get("street"):
            personal.append(customer["billingaddress"]["street"])
    return ids, [p for p in personal if p and len(p) > 4]


def _everything_stored(h) -> str:
    """Every row of every table koppel keeps: the event store and the read model."""
    text = []
    sqlite = h.config.database_url.startswith("sqlite")
    tables = ("SELECT name FROM sqlite_master WHERE type = 'table'" if sqlite else
              "SELECT table_name AS name FROM information_schema.tables "
              "WHERE table_schema = 'public'")
    with h.runtime.app.recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(tables)
        for (table,) in [tuple(r.values()) if isinstance(r, dict) else tuple(r)
                         for r in cursor.fetchall()]:
            cursor.execute(f"SELECT * FROM {table}")
            for row in cursor.fetchall():
                values = row.values() if isinstance(row, dict) else tuple(row)
                text.append(" ".join(bytes(v).decode("utf-8", "replace")
                                     if isinstance(v, (bytes, memoryview)) else str(v)
                                     for v in values))
    return "\n".join(text)


def _documents_of(h):
    def rows(conn_id):
        h.runtime.projector.catch_up()
        return h.runtime.store.query("SELECT * FROM documents WHERE connection_id = ?",
                                     [str(conn_id)])
    return rows


@pytest.fixture
def h(sqlite_url):
    from tests.harness import Harness
    harness = Harness(sqlite_url)
    yield harness
    harness.close()


def test_erasing_leaves_no_customer_data_readable_and_a_tombstone(harness):
    """On SQLite and PostgreSQL: every table of the database is read back."""
    h = harness
    other, _ = h.runtime.connections.save(
        settings_for(h.shop_url, **{'name = "Demo shop"': 'name = "Other shop"'}), by="t")
    ids, personal = _book(h, 4, 21)
    assert personal and all(p in _everything_stored(h) for p in personal)  # the test can fail
    posted = {r["id"]: r["ledger_reference"] for r in h.rows() if r["status"] == "posted"}
    assert posted

    erased = removal.remove(h.runtime.connections, _documents_of(h), h.connection.id,
                            by="merchant@example.test", erase=True)
    h.runtime.projector.catch_up()

    assert erased == 4
    stored = _everything_stored(h)
    assert [p for p in personal if p in stored] == []
    assert all(h.runtime.app.find_document(UUID(i)) is None for i in ids)
    assert h.rows() == []
    connection = h.runtime.app.find_connection(h.connection.id)
    assert connection.removed
    assert {e["id"]: e["ledger_reference"] for e in connection.erased
            if e["status"] == "posted"} == posted
    assert h.merchant.get(f"/documents/{ids[0]}").status_code == 404
    # A rebuild from the log gives the same empty read model (I4), the other shop untouched.
    h.runtime.projector.rebuild()
    assert h.rows() == []
    assert [c["name"] for c in h.runtime.store.query("SELECT name FROM connections")] == [
        "Other shop"]
    assert len(h.mutations()) == len(posted)  # the ledger keeps its bookings


def test_kept_history_stays_readable_and_nothing_new_is_taken_in(h):
    ids, personal = _book(h, 2, 22)
    address = h.webhook_path()  # the shop still has it after the removal
    removal.remove(h.runtime.connections, _documents_of(h), h.connection.id, by="m",
                   erase=False)
    h.runtime.projector.catch_up()
    assert {r["id"] for r in h.rows()} == set(ids)
    assert h.merchant.get(f"/documents/{ids[0]}").status_code == 200
    more = [i for i in generate(20, 23, unpaid_share=0.0, failing_share=0.0,
                                scopes={"domestic"}) if i["kind"] == "order"][0]
    shop_id = h.put_order(more)["id"]
    body = {"id": shop_id, "href": f"{h.shop_url}/api/rest/v1/orders/{shop_id}"}
    assert h.client.post(address, json=body).status_code == 404
    h.runtime.actors._intake(str(h.connection.id), "order", shop_id, "sweep")  # queued before
    h.runtime.actors._process(ids[0])
    assert {r["id"] for r in h.rows()} == set(ids)


def test_erasing_again_after_a_crash_finishes_the_job(h):
    ids, personal = _book(h, 2, 24)
    real_delete = h.runtime.app.delete_aggregates
    h.runtime.app.delete_aggregates = lambda ids: (_ for _ in ()).throw(OSError("power cut"))
    with pytest.raises(OSError):
        removal.remove(h.runtime.connections, _documents_of(h), h.connection.id, by="m",
                       erase=True)
    h.runtime.app.delete_aggregates = real_delete
    assert removal.remove(h.runtime.connections, _documents_of(h), h.connection.id, by="m",
                          erase=True) == 2
    assert [p for p in personal if p in _everything_stored(h)] == []


def test_a_document_an_in_flight_webhook_records_during_the_erase_is_erased_too(h):
    """The webhook passed the door before the removal; its intake saves the document while
    the erase runs (here: just after the erase first listed the documents)."""
    ids, personal = _book(h, 1, 25)
    late = next(i for i in generate(30, 26, unpaid_share=0.0, failing_share=0.0,
                                    scopes={"domestic"}) if i["kind"] == "order"
                and i["order"]["customer"]["billingaddress"]["full_name"])
    source = h.runtime.connections.shop(h.runtime.connections.get(h.connection.id)).fetch_order(
        h.put_order(late)["id"])
    reads = _documents_of(h)
    arrived = []

    def documents_of(conn_id):
        rows = reads(conn_id)
        if not arrived:  # just after the erase listed the documents
            document = Document.receive(h.connection.id, "order", source["order"]["id"],
                                        str(source["order"]["ordernumber"]), source, "webhook")
            h.runtime.app.save(document)
            arrived.append(document.id)
        return rows

    assert removal.remove(h.runtime.connections, documents_of, h.connection.id, by="m",
                          erase=True) == 2
    name = late["order"]["customer"]["billingaddress"]["full_name"]
    assert name not in _everything_stored(h)
    assert h.runtime.app.find_document(arrived[0]) is None
