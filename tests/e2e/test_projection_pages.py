"""I4 with page-at-a-time projection: the read models folded live, event by event as they
arrive, equal the ones a rebuild folds in pages of any size, also when a page boundary splits
one document's events, and when a rebuild is interrupted and resumed or restarted.

The log is written through the aggregates (their real events, interleaved across documents,
connections and people), on both event stores.
"""

from __future__ import annotations

import random
import secrets
from datetime import datetime, timezone
from uuid import uuid4

import pytest

from domain.connection import Connection
from domain.document import Document
from domain.ledger_target import LedgerTarget, Purpose, TargetPosting
from domain.users import User
from projections import documents
from projections import projector as projector_module
from projections.projector import VIEWS, Projector
from web.bootstrap import bootstrap
from web.config import Config

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"


def _booking(rng: random.Random, number: str, lines: int) -> dict:
    return {
        "date": f"2026-03-{rng.randint(1, 28):02d}", "scope": "domestic",
        "payment_method": rng.choice(["ideal", "banktransfer"]), "currency": "EUR",
        "total_incl": f"{rng.randint(100, 99999) / 100:.2f}", "country": "NL",
        "customer": {"first_name": f"Anna{number}", "last_name": "de Vries",
                     "email": f" Anna{number}@Example.NL "},
        "lines": [{"kind": "product", "vat_code": "HOOG_VERK_21", "vat_rate": "21",
                   "account": "8000", "amount_incl": f"{rng.randint(100, 9999) / 100:.2f}"}
                  for _ in range(lines)],
    }


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _post(doc: Document, attempt_fails: bool = False):
    steps = [lambda: doc.start_posting("w1", {"n": doc.number}, 30.0, _now())]
    if attempt_fails:
        steps += [lambda: doc.interrupt_posting("timeout", outcome_unknown=False),
                  lambda: doc.start_posting("w2", {"n": doc.number}, 30.0, _now())]
    steps.append(lambda: doc.record_posted({"mutation": doc.number}, {"ok": True},
                                           found_by_lookup=attempt_fails))
    return steps


def _document_story(rng: random.Random, connection_id, shop_id: int, story: str):
    """The document (None until its first event) and the steps of its life, one event each."""
    number = f"ORD{shop_id}"
    holder: dict = {}

    def receive():
        holder["doc"] = Document.receive(connection_id, "order", shop_id, number,
                                         {"id": shop_id, "v": 1}, "webhook")

    doc = _Lazy(holder)
    check = lambda lines=2, ok=True, waiting=None: doc.record_check(  # noqa: E731
        _booking(rng, number, lines), 1, ok, waiting)
    debtor = lambda: doc.resolve_debtor({"id": 7, "code": "D7", "action": "matched"})  # noqa
    pay = [lambda: doc.start_payment("w1", {}, 30.0, _now()),
           lambda: doc.record_payment({"payment": number}, {}, found_by_lookup=False)]
    if story == "happy":
        steps = [receive, check, debtor, *_post(doc), *pay]
    elif story == "retried and changed after posting":
        steps = [receive, lambda: check(3), debtor, *_post(doc, attempt_fails=True),
                 lambda: doc.refresh(number, {"id": shop_id, "v": 2}, "webhook")]
    elif story == "waits for payment, then checked again":
        steps = [receive, lambda: check(3, waiting="payment"), lambda: check(1), debtor,
                 *_post(doc), lambda: doc.start_payment("w1", {}, 30.0, _now()),
                 lambda: doc.interrupt_payment("refused", outcome_unknown=False),
                 lambda: doc.start_payment("w2", {}, 30.0, _now()),
                 lambda: doc.fail_payment("E_OPEN_ITEM", "R8.2", "geen post", "no item")]
    elif story == "fails, reprocessed":
        steps = [receive, lambda: check(2, ok=False),
                 lambda: doc.fail("check", "E_VAT", "R5.1", "btw", "vat"),
                 lambda: doc.request_reprocess("anna@example.nl", "fixed the settings"),
                 lambda: doc.refresh(number, {"id": shop_id, "v": 3}, "sweep"),
                 check, debtor, *_post(doc)]
    elif story == "shop fails":
        def intake_failed():
            holder["doc"] = Document.intake_failed(connection_id, "order", shop_id, "webhook",
                                                   "E_SHOP", "winkel", "shop", retrying=True)
        steps = [intake_failed,
                 lambda: doc.fetch_failed("sweep", "E_GONE", "weg", "gone", retrying=False)]
    elif story == "before the start date":
        steps = [receive, lambda: doc.set_aside(datetime(2019, 5, 1, tzinfo=timezone.utc),
                                                datetime(2020, 1, 1, tzinfo=timezone.utc))]
    else:  # refreshed while a worker talks to the ledger
        steps = [receive, check, debtor,
                 lambda: doc.start_posting("w1", {}, 30.0, _now()),
                 lambda: doc.refresh(number, {"id": shop_id, "v": 9}, "webhook"),
                 lambda: doc.record_posted({"mutation": number}, {}, found_by_lookup=False)]
    return holder, steps


class _Lazy:
    """The document a story's later steps act on, made by its first step."""

    def __init__(self, holder: dict) -> None:
        self.__dict__["_holder"] = holder

    def __getattr__(self, name):
        return getattr(self._holder["doc"], name)


def _target_posting_story(target_id, document_id, number: str, story: str):
    """A document's posting into a further ledger (issue 13.3) and its steps, one event each."""
    holder: dict = {}
    booking = {"date": "2026-03-02", "lines": []}

    def check(ok=True):
        holder["doc"] = TargetPosting.check(target_id, document_id, number, booking, 1, ok)

    posting = _Lazy(holder)
    debtor = lambda: posting.resolve_debtor({"id": 9, "action": "matched"})  # noqa: E731
    start = lambda: posting.start_posting("w1", {"n": number}, 30.0, _now())  # noqa: E731
    posted = lambda: posting.record_posted({"mutation": number}, {}, found_by_lookup=False)  # noqa
    pay = lambda: posting.start_payment("w1", {}, 30.0, _now())  # noqa: E731
    if story == "booked and paid":
        steps = [check, debtor, start, posted, pay,
                 lambda: posting.record_payment({"payment": number}, {}, found_by_lookup=False)]
    elif story == "interrupted, looked up, payment failed":
        steps = [check, debtor, start,
                 lambda: posting.interrupt_posting("timeout", True, _now()), start,
                 lambda: posting.record_lookup({"mutation": number}), posted, pay,
                 lambda: posting.interrupt_payment("503", outcome_unknown=True,
                                                   settle_until=_now()), pay,
                 lambda: posting.fail_payment("E_OPEN_ITEM", "R8.2", "geen post", "no item")]
    elif story == "refused, retried":
        steps = [lambda: check(False),
                 lambda: posting.fail("check", "E_VAT", "R5.1", "btw", "vat"),
                 lambda: posting.retry("anna", booking, 1), debtor, start, posted]
    else:  # left part-way: a claim taken and never given back
        steps = [check, debtor, start]
    return holder, steps


TARGET_STORIES = ["booked and paid", "interrupted, looked up, payment failed",
                  "refused, retried", "left part-way"]

STORIES = ["happy", "retried and changed after posting", "waits for payment, then checked again",
           "fails, reprocessed", "shop fails", "before the start date", "refreshed while posting"]


def write_varied_log(runtime, project_live, seed: int = 3) -> dict:
    """Interleave the lives of documents, connections and people in one log, projecting live
    (``project_live()``) after every save; returns what the test checks by name."""
    rng = random.Random(seed)
    app = runtime.app
    connections = [Connection.create(f"shop-{n}", {"n": n}) for n in range(2)]
    for connection in connections:
        app.save(connection)
        project_live()
    stories = []
    for n in range(28):
        story = STORIES[n % len(STORIES)]
        holder, steps = _document_story(rng, connections[n % 2].id, 1000 + n, story)
        stories.append((holder, steps))
    target = LedgerTarget.add(connections[0].id, "Accountant", Purpose.SWITCH, {"n": 0},
                              "2026-01-01T00:00:00+00:00", "anna", [])
    for n in range(8):
        story = TARGET_STORIES[n % len(TARGET_STORIES)]
        stories.append(_target_posting_story(target.id, uuid4(),
                                             f"ORD{1000 + n}", story))
    merchant = User.create("merchant@example.nl", "merchant", HASH, by="admin")
    support = User.create("support@example.nl", "support", HASH, by="admin")
    others = [
        lambda: connections[0].change_settings({"n": 0, "v": 2}, by="anna"),
        lambda: connections[0].change_settings({"n": 0, "v": 3}, by="anna"),
        lambda: connections[1].refuse_credentials("ledger", "401 unauthorized"),
        lambda: connections[1].reconnect(by="anna"),
        lambda: connections[1].refuse_credentials("shop", "403 forbidden"),
        lambda: merchant.grant(connections[0].id, by="admin"),
        lambda: merchant.grant(connections[1].id, by="admin"),
        lambda: support.consult(connections[1].id, "a ticket about ORD1001"),
        lambda: merchant.revoke(connections[0].id, by="admin"),
        lambda: merchant.choose_notifications(digest=False, reconnect=True, by="merchant"),
        lambda: merchant.enable_second_factor("enc:" + secrets.token_hex(8), by="merchant"),
        lambda: target.pause(by="anna"),
        lambda: target.resume(by="anna"),
        lambda: target.finish(),
        lambda: target.switched("anna", 4),
    ]
    app.save(merchant, support, target)
    project_live()
    pending = [(holder, list(steps)) for holder, steps in stories]
    while pending or others:
        if others and (not pending or rng.random() < 0.08):
            others.pop(0)()
            app.save(*connections, merchant, support, target)
        else:
            index = rng.randrange(len(pending))
            holder, steps = pending[index]
            for _ in range(rng.randint(1, 3)):  # a few events of one document in a row
                if steps:
                    steps.pop(0)()
            app.save(holder["doc"])
            if not steps:
                pending.pop(index)
        project_live()
    return {"connections": connections, "target": target,
            "documents": [h["doc"] for h, _ in stories if isinstance(h["doc"], Document)],
            "target postings": [h["doc"] for h, _ in stories
                                if isinstance(h["doc"], TargetPosting)]}


def snapshot(store) -> dict[str, list]:
    tables = [table for view in VIEWS for table in view.TABLES]
    result = {}
    for table in tables:
        rows = store.query(f"SELECT * FROM {table}")
        result[table] = sorted((tuple(sorted(row.items())) for row in rows), key=repr)
    return result


@pytest.fixture
def runtime(database_url):
    config = Config(database_url=database_url, secret_key=secrets.token_urlsafe(32))
    rt = bootstrap(config, environ={}, transport_for=lambda url: None)
    yield rt
    rt.stop()


def _documents_split_by_pages(runtime, page: int) -> set:
    """The documents whose events fall on both sides of a boundary of pages of ``page``."""
    pages: dict = {}
    for position, event in runtime.app.notifications(1, 100_000):
        pages.setdefault(event.originator_id, set()).add((position - 1) // page)
    return {doc for doc, seen in pages.items() if len(seen) > 1}


def test_live_projection_equals_rebuilds_in_pages_of_any_size(runtime):
    projector = runtime.projector
    written = write_varied_log(runtime, projector.catch_up)
    live = snapshot(runtime.store)

    # What the live read models say, checked by name (so a fold wrong both ways still fails).
    docs = {d.number: d for d in written["documents"]}
    rows = {r["number"]: r for r in runtime.store.query("SELECT * FROM documents")}
    assert {n: r["status"] for n, r in rows.items()} == {n: d.status for n, d in docs.items()}
    # The columns a page writes are read from the CREATE TABLE: all of them, in its order.
    assert tuple(next(iter(rows.values()))) == documents.DOCUMENTS.columns
    changed = rows["ORD1001"]
    assert changed["changed_after_posting"] == 1 and changed["found_by_lookup"] == 1
    assert changed["attempts"] == 2 and changed["last_error"] is None
    assert rows["ORD1002"]["payment_status"] == "failed"
    assert rows["ORD1002"]["payment_attempts"] == 2
    assert rows["ORD1003"]["reprocessed_by"] == "anna@example.nl"
    assert rows["ORD1003"]["failure_code"] is None and rows["ORD1003"]["status"] == "posted"
    assert rows["1004"]["status"] == "failed" and rows["1004"]["failure_code"] == "E_GONE"
    assert rows["ORD1006"]["number"] == "ORD1006" and rows["ORD1006"]["status"] == "posted"
    lines = runtime.store.query("SELECT count(*) AS n FROM booked_lines WHERE document_id = ?",
                                [str(docs["ORD1002"].id)])
    assert lines[0]["n"] == 1  # the second check replaced the three lines of the first
    connections = {r["name"]: r for r in runtime.store.query("SELECT * FROM connections")}
    assert connections["shop-0"]["settings_version"] == 3
    assert connections["shop-1"]["credentials_problem"] == "shop: 403 forbidden"
    grants = runtime.store.query("SELECT * FROM grants ORDER BY connection_id")
    assert len(grants) == 2 and sum(g["revoked_at"] is not None for g in grants) == 1
    # the further ledger's postings (projections/targets.py), by number, and its target
    postings = {p.number: p for p in written["target postings"]}
    shown = {r["number"]: r for r in runtime.store.query("SELECT * FROM target_postings")}
    assert {n: (r["status"], r["payment_status"]) for n, r in shown.items()} == {
        n: (p.status, p.payment_status) for n, p in postings.items()}
    assert (shown["ORD1001"]["attempts"], shown["ORD1001"]["payment_attempts"]) == (2, 2)
    assert shown["ORD1001"]["payment_code"] == "E_OPEN_ITEM"
    assert shown["ORD1001"]["payment_settle_until"] is not None
    assert shown["ORD1002"]["failure_code"] is None and shown["ORD1002"]["status"] == "posted"
    assert shown["ORD1003"]["status"] == "posting"
    [target] = runtime.store.query("SELECT * FROM ledger_targets")
    assert (target["state"], target["switch_version"]) == ("switched", 4)
    assert target["connection_id"] == str(written["connections"][0].id)

    for page in (1, 7, 5000):
        if page == 7:  # a boundary falls inside some document's events
            assert len(_documents_split_by_pages(runtime, page)) >= 5
        rebuilt = Projector(runtime.app, runtime.store, rebuild_batch_size=page)
        total = runtime.app.recorder.max_notification_id()
        assert rebuilt.rebuild() == total
        assert snapshot(runtime.store) == live, f"rebuilt in pages of {page}"


def test_an_interrupted_rebuild_resumes_or_restarts_to_the_same_read_models(runtime,
                                                                            monkeypatch):
    write_varied_log(runtime, runtime.projector.catch_up, seed=5)
    live = snapshot(runtime.store)
    total = runtime.app.recorder.max_notification_id()

    real_apply_page, pages = projector_module.apply_page, []

    def crash_on_the_fourth_page(cur, views, events):
        pages.append(len(events))
        real_apply_page(cur, views, events)  # written, then lost with the transaction
        if len(pages) == 4:
            raise KeyboardInterrupt("the operator pressed Ctrl-C")

    monkeypatch.setattr(projector_module, "apply_page", crash_on_the_fourth_page)
    interrupted = Projector(runtime.app, runtime.store, rebuild_batch_size=9)
    with pytest.raises(KeyboardInterrupt):
        interrupted.rebuild()
    monkeypatch.setattr(projector_module, "apply_page", real_apply_page)
    assert interrupted.position() == 27  # three pages committed, the fourth rolled back
    documents = runtime.store.scalar("SELECT count(*) FROM documents")
    assert 0 < documents < len(live["documents"])

    # A new process carries on from the position: nothing applied twice, nothing missed.
    resumed = Projector(runtime.app, runtime.store)
    assert resumed.catch_up(batch_size=11) == total - 27
    assert snapshot(runtime.store) == live

    # Interrupted again, then rebuilt from scratch: the same.
    monkeypatch.setattr(projector_module, "apply_page", crash_on_the_fourth_page)
    pages.clear()
    with pytest.raises(KeyboardInterrupt):
        Projector(runtime.app, runtime.store, rebuild_batch_size=13).rebuild()
    monkeypatch.setattr(projector_module, "apply_page", real_apply_page)
    assert Projector(runtime.app, runtime.store).rebuild() == total
    assert snapshot(runtime.store) == live


def test_progress_counts_the_positions_gone_through(runtime):
    write_varied_log(runtime, lambda: None, seed=7)  # nothing projected live
    total = runtime.app.recorder.max_notification_id()
    seen = []
    applied = Projector(runtime.app, runtime.store, rebuild_batch_size=50).rebuild(
        lambda done, end: seen.append((done, end)))
    assert applied == total
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    assert [done for done, _ in seen] == sorted({done for done, _ in seen})
    assert len(seen) == 1 + -(-total // 50)


@pytest.fixture
def pg_runtime(postgres_url):
    config = Config(database_url=postgres_url, secret_key=secrets.token_urlsafe(32))
    rt = bootstrap(config, environ={}, transport_for=lambda url: None)
    yield rt
    rt.stop()


def _in_parts(runtime, parts: int, monkeypatch) -> tuple[Projector, list]:
    from functools import partial

    from application.app import Koppel
    from web.config import persistence_env

    projector = Projector(runtime.app, runtime.store, rebuild_batch_size=5,
                          make_app=partial(Koppel, env=persistence_env(runtime.config.database_url,
                                                                       2, create_tables=False)),
                          rebuild_processes=parts)
    projector.parallel_from = 0  # however short the log
    ran = []
    real = projector._rebuild_in_parts
    monkeypatch.setattr(projector, "_rebuild_in_parts",
                        lambda progress: ran.append(parts) or real(progress))
    return projector, ran


@pytest.mark.parametrize("parts", [2, 3])
def test_a_rebuild_split_over_processes_equals_live_projection(pg_runtime, parts, monkeypatch):
    write_varied_log(pg_runtime, pg_runtime.projector.catch_up, seed=11)
    live = snapshot(pg_runtime.store)
    total = pg_runtime.app.recorder.max_notification_id()
    projector, ran = _in_parts(pg_runtime, parts, monkeypatch)
    seen = []
    assert projector.rebuild(lambda done, end: seen.append((done, end))) == total
    assert ran == [parts]  # really in parts, each in a process of its own
    assert snapshot(pg_runtime.store) == live
    assert projector.position() == total and seen[-1] == (total, total)
    assert pg_runtime.store.query(
        "SELECT name FROM projection_tracking WHERE name LIKE ?", ["rebuild %"]) == []
    # Following the log goes on from there, one position for all again.
    pg_runtime.app.save(Connection.create("shop-late", {"n": 9}))
    assert pg_runtime.projector.catch_up() == 1
    assert pg_runtime.store.scalar("SELECT count(*) FROM connections WHERE name = 'shop-late'") == 1


def test_a_rebuild_in_parts_cut_short_is_restarted_to_the_same_read_models(pg_runtime,
                                                                           monkeypatch):
    from projections import parallel

    write_varied_log(pg_runtime, pg_runtime.projector.catch_up, seed=13)
    live = snapshot(pg_runtime.store)
    total = pg_runtime.app.recorder.max_notification_id()
    projector, ran = _in_parts(pg_runtime, 2, monkeypatch)
    # As if killed after part 0 of 2 went through the log and part 1 through a third of it.
    with pg_runtime.store.transaction() as cur:
        for view in VIEWS:
            for table in view.TABLES:
                cur.execute(f"DELETE FROM {table}")
        cur.execute("UPDATE projection_tracking SET position = 0")
    parallel.start_parts(pg_runtime.store, 2)
    url = pg_runtime.config.database_url
    assert parallel.rebuild_part(projector.make_app, url, 0, 2, total, 7) > 0
    assert parallel.rebuild_part(projector.make_app, url, 1, 2, total // 3, 7) > 0
    assert 0 < pg_runtime.store.scalar("SELECT count(*) FROM documents") < len(live["documents"])
    # Part 1 resumes from its own position: nothing applied twice.
    assert parallel.rebuild_part(projector.make_app, url, 1, 2, total, 7) + \
        parallel.rebuild_part(projector.make_app, url, 0, 2, total, 7) > 0
    assert snapshot(pg_runtime.store) == live

    assert projector.rebuild() == total and ran == [2]
    assert snapshot(pg_runtime.store) == live
