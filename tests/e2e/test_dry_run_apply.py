"""Issue 13.2 from the dashboard: applying a finished dry run's draft is asked for on its page
and done by the workers from the dry run's result, exactly once: the settings version, the
documents asked for again, the corrections and the record of it, even when its message runs
twice or a worker stops half-way. SQLite and PostgreSQL (``database_url``)."""

from __future__ import annotations

import re
import time
from uuid import UUID

import pytest

from application.settings import settings_from_dict
from domain.booking import build_booking
from domain.connection import Connection
from domain.correction import DraftApplied, application_id
from domain.document import Document
from tests.e2e.test_dry_run import _add_account, _post_one, _run
from tests.e2e.test_dry_run_page import PERIOD, _draft_text, _post
from tests.harness import MERCHANT, csrf_token

REASON = "accountant: 21% revenue on 8005 from now on"


class _Killed(BaseException):
    """The worker's process ends here: nothing after this line is saved."""


def _with_21(h, orders) -> list[UUID]:
    """Posted orders with a 21% product line (R4.8: on 8000, which the draft moves)."""
    _add_account(h)
    posted = [_post_one(h, order) for order in orders]
    posted = [d for d in posted if any(line["account"] == "8000"
                                       for line in h.runtime.app.document(d).booking["lines"])]
    assert len(posted) >= 2, "choose other orders"
    return posted


def _waiting(h, order) -> UUID:
    """An order taken in and not processed yet: open when the dry run lists it."""
    shop_id = h.put_order(order)["id"]
    doc_id = h.runtime.processing.intake(h.connection.id, "order", shop_id, "test")
    assert any(line.account == "8000" for line in build_booking(
        h.runtime.app.document(doc_id).source, h.connection.settings).lines), "choose another"
    return doc_id


def _finished_dry_run(h) -> tuple[str, UUID]:
    """The page's dry run, run to its end as a worker runs it: (its page, its id)."""
    answer = _post(h, _draft_text(h))
    assert answer.status_code == 303
    job_id = UUID(answer.headers["Location"].rsplit("/", 1)[1])
    while h.runtime.dry_run_jobs.run(job_id).state == "running":
        pass
    return answer.headers["Location"], job_id


def _apply(h, page: str, **form):
    token = csrf_token(h.merchant.get(page).get_data(as_text=True))
    return h.merchant.post(f"{page}/apply", data={"csrf_token": token, **form})


def _versions(h) -> int:
    return sum(isinstance(e, Connection.SettingsChanged)
               for e in h.runtime.app.history(h.connection.id))


def _asked_again(h, doc_id) -> int:
    return sum(isinstance(e, Document.ReprocessRequested)
               for e in h.runtime.app.history(doc_id))


def test_applying_a_dry_run_once_though_its_slices_run_twice_or_stop_half_way(
        harness, paid_domestic_orders, monkeypatch):
    h = harness
    orders = paid_domestic_orders(6)
    posted = _with_21(h, orders[:5])
    waiting = _waiting(h, orders[5])
    h.runtime.projector.catch_up()
    page, job_id = _finished_dry_run(h)
    job = h.runtime.dry_run_jobs.find(job_id)
    assert job.changed == len(posted) + 1 and job.posted == len(posted)
    numbers = {d: h.runtime.app.document(d).number for d in posted}
    versions_before = _versions(h)

    # A reason is asked for; nothing is recorded without one.
    refused = _apply(h, page, reason="  ", book_corrections="on")
    assert refused.status_code == 400 and 'id="problems"' in refused.get_data(as_text=True)
    assert h.runtime.dry_run_applications.find(job_id) is None

    answer = _apply(h, page, reason=REASON, book_corrections="on")

    assert answer.status_code == 303 and answer.headers["Location"] == page
    html = h.merchant.get(page).get_data(as_text=True)
    assert 'id="applying"' in html and '<noscript><meta http-equiv="refresh"' in html
    assert 'id="apply-reason"' not in html  # asked for: the form is gone
    progress = h.merchant.get(f"/api/connections/{h.connection.id}/settings/dry-run/{job_id}")
    assert progress.get_json()["apply"] == {"state": "running", "position": 0,
                                           "total": job.changed, "settings_version": None}
    # Asked again (another tab, a double click): the first wish stands, nothing is sent.
    again = _apply(h, page, reason="another reason")
    assert again.status_code == 303
    application = h.runtime.dry_run_applications.find(job_id)
    assert (application.reason, application.book_corrections) == (REASON, True)
    assert h.runtime.store.scalar("SELECT COUNT(*) FROM settings_dry_run_applications") == 1
    assert _versions(h) == versions_before  # the request changes nothing: a worker does

    # A worker looks at its time after each document: up, it saves where it is and stops.
    apps = h.runtime.dry_run_applications
    queued, booked = [], []

    def run(keep_going=lambda: True):
        return apps.run(job_id, queued.append, booked.append, keep_going=keep_going)

    # Killed after it recorded the settings version, before it saved which one it was: the
    # next try finds the settings equal to the draft and takes that version, records none.
    monkeypatch.setattr(apps, "_write", lambda *args: (_ for _ in ()).throw(_Killed()))
    with pytest.raises(_Killed):
        run()
    monkeypatch.undo()
    assert _versions(h) == versions_before + 1 and apps.find(job_id).settings_version is None
    order = [c.document_id for c in apps._documents(job, 0)]
    assert sorted(order) == sorted([*posted, waiting])
    while apps.find(job_id).position < order.index(waiting):
        assert run(keep_going=lambda: False).state == "running"  # its time was up
    # The rest is done in one slice and the worker is killed before its progress is saved:
    # the open document was asked for again and queued, the position did not move.
    real = apps._save
    monkeypatch.setattr(apps, "_save", lambda *args: (_ for _ in ()).throw(_Killed()))
    with pytest.raises(_Killed):
        run()
    monkeypatch.setattr(apps, "_save", real)
    assert apps.find(job_id).position == order.index(waiting)
    assert _asked_again(h, waiting) == 1 and queued.count(waiting) == 1
    # Its message delivered twice: two workers on the same slice, one saves it.
    raced = []

    def meanwhile_another_worker_saves_it_first(*args):
        if not raced:
            raced.append(None)
            raced[0] = run(keep_going=lambda: False)
        real(*args)

    monkeypatch.setattr(apps, "_save", meanwhile_another_worker_saves_it_first)
    run(keep_going=lambda: False)
    monkeypatch.setattr(apps, "_save", real)
    assert raced[0].position == apps.find(job_id).position == order.index(waiting) + 1
    while run().state == "running":
        pass

    done = apps.find(job_id)
    assert (done.state, done.position, done.total) == ("finished", job.changed, job.changed)
    version = done.settings_version
    assert version == versions_before + 2  # version 1 is the first settings
    connection = h.runtime.app.find_connection(h.connection.id)
    assert connection.settings_version == version and _versions(h) == versions_before + 1
    assert connection.settings["vat"][0]["revenue_account"] == "8005"
    # The open document asked for again once, with who and why; queued at least once.
    assert _asked_again(h, waiting) == 1 and waiting in queued
    asked = [e for e in h.runtime.app.history(waiting)
             if isinstance(e, Document.ReprocessRequested)][0]
    assert (asked.by, asked.reason) == (MERCHANT[0], REASON)
    # One correction per posted document, asked once (sent perhaps more often: it books once).
    corrections = set(booked)
    assert len(corrections) == len(posted)
    record = h.runtime.app.repository.get(application_id(h.connection.id, version))
    assert isinstance(record, DraftApplied)
    assert len(h.runtime.app.history(record.id)) == 1
    assert sorted(record.corrections) == sorted(str(c) for c in corrections)
    assert record.reprocessed == [h.runtime.app.document(waiting).number]

    # The workers book the corrections and the document asked again, each once.
    before = {m["invoiceNumber"] for m in h.mutations()}
    for correction in booked:
        assert _run(h, correction).done
    assert h.process(waiting).status == "posted"
    document = h.runtime.app.document(waiting)
    assert document.settings_version == version
    assert any(line["account"] == "8005" for line in document.booking["lines"])
    mutations = [m["invoiceNumber"] for m in h.mutations()]
    expected = before | {f"{n}-{part}{version}" for n in numbers.values() for part in "RC"} | {
        document.number}
    assert sorted(mutations) == sorted(expected)  # each once

    # The page says what was done, as it did when applying ran in the request.
    html = h.merchant.get(page).get_data(as_text=True)
    assert 'id="applying"' not in html and "http-equiv" not in html
    assert f"Settings version {version} recorded." in html
    assert f"Correction bookings queued: {len(posted)}" in html
    assert "Run again with the new settings: 1" in html
    assert h.merchant.get(f"/api/connections/{h.connection.id}/settings/dry-run/"
                          f"{job_id}").get_json()["apply"]["state"] == "finished"
    # Asked for again once done: nothing more.
    assert _apply(h, page, reason="again", book_corrections="on").status_code == 303
    assert apps.find(job_id).state == "finished" and _versions(h) == versions_before + 1


def test_the_workers_apply_it_with_its_progress_and_a_stale_dry_run_lists_what_was_posted(
        harness, paid_domestic_orders, monkeypatch):
    """Embedded workers drive it a slice a message, the page's JSON follows it; a document the
    dry run listed open and that was posted meanwhile (with the settings before the draft) is
    never posted again (R5.7): it goes on the correction list."""
    h = harness
    orders = paid_domestic_orders(5)
    posted = _with_21(h, orders[:4])
    waiting = _waiting(h, orders[4])
    h.runtime.projector.catch_up()
    page, job_id = _finished_dry_run(h)
    assert h.process(waiting).status == "posted"  # meanwhile, with settings version 1
    stale = h.runtime.app.document(waiting).number
    monkeypatch.setattr("workers.dryrun_apply.SLICE", 1)
    monkeypatch.setattr("workers.dryrun_runner.SLICE_SECONDS", 0.0)
    handle = h.runtime.apply_draft.handle

    def as_slow_as_a_shop(*args, **kwargs):  # a document asked again is fetched first
        time.sleep(0.1)
        return handle(*args, **kwargs)

    monkeypatch.setattr(h.runtime.apply_draft, "handle", as_slow_as_a_shop)

    answer = _apply(h, page, reason=REASON)  # no correction bookings asked for

    assert answer.status_code == 303
    progress_url = f"/api/connections/{h.connection.id}/settings/dry-run/{job_id}"
    h.runtime.start_workers(1)
    seen = [0]

    def finished():
        progress = h.merchant.get(progress_url).get_json()["apply"]
        if progress["position"] != seen[-1]:
            seen.append(progress["position"])
        return progress["state"] == "finished"

    h.wait_until(finished, timeout=60, interval=0.02)
    assert seen == sorted(seen) and seen[-1] == len(posted) + 1 and len(seen) > 2
    applied = h.runtime.dry_run_applications.applied(
        h.runtime.dry_run_jobs.find(job_id), h.runtime.dry_run_applications.find(job_id))
    assert applied.reprocessed == [] and applied.corrections == []
    assert sorted(applied.listed) == sorted(
        [stale] + [h.runtime.app.document(d).number for d in posted])
    assert _asked_again(h, waiting) == 0
    html = h.merchant.get(page).get_data(as_text=True)
    assert re.search(r"On the correction list only: [^<]*" + re.escape(stale), html)
    assert h.runtime.app.document(waiting).settings_version == 1  # not posted again


def test_apply_takes_the_result_of_a_dry_run_run_before(harness, paid_domestic_orders,
                                                        monkeypatch):
    """``ApplyDraft.apply`` with the finished dry run's result runs no second dry run."""
    h = harness
    posted = _with_21(h, paid_domestic_orders(4))
    h.runtime.projector.catch_up()
    _, job_id = _finished_dry_run(h)
    job = h.runtime.dry_run_jobs.find(job_id)
    result = h.runtime.dry_run_jobs.result(job, h.connection.name)

    def no_second_dry_run(*args, **kwargs):
        raise AssertionError("the dry run was run again")

    monkeypatch.setattr(h.runtime.dry_runs, "run", no_second_dry_run)
    applied = h.runtime.apply_draft.apply(
        h.connection.id, settings_from_dict(job.draft), *PERIOD, by="m", reason=REASON,
        book_corrections=True, result=result)

    assert applied.result is result and len(applied.corrections) == len(posted)
    assert applied.settings_version == h.runtime.app.find_connection(
        h.connection.id).settings_version == 2


def test_applying_that_failed_goes_on_where_it_stopped_when_asked_again(harness,
                                                                        paid_domestic_orders):
    h = harness
    posted = _with_21(h, paid_domestic_orders(4))
    h.runtime.projector.catch_up()
    page, job_id = _finished_dry_run(h)
    assert _apply(h, page, reason=REASON, book_corrections="on").status_code == 303
    apps, booked = h.runtime.dry_run_applications, []
    apps.run(job_id, lambda doc_id: None, booked.append, keep_going=lambda: False)
    apps.fail(job_id)  # Dramatiq's word that its slice kept failing
    html = h.merchant.get(page).get_data(as_text=True)
    assert 'id="apply-failed"' in html and 'id="apply-draft"' in html
    assert 'id="applying"' not in html and "http-equiv" not in html

    assert _apply(h, page, reason=REASON, book_corrections="on").status_code == 303

    application = apps.find(job_id)
    assert (application.state, application.position) == ("running", 1)
    while apps.run(job_id, lambda doc_id: None, booked.append).state == "running":
        pass
    assert apps.find(job_id).state == "finished" and _versions(h) == 1  # version 2
    assert len(booked) == len(set(booked)) == len(posted)
    assert "Settings version 2 recorded." in h.merchant.get(page).get_data(as_text=True)
