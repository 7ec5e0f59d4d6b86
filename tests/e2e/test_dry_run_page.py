"""Issue 13.2 from the dashboard: the dry run of a settings draft runs in the workers as a
job, the page shows its progress and then the very result ``DryRuns.run`` gives, and only a
valid draft becomes a job. Embedded mode (the in-process broker and its workers), as
``koppel serve`` and ``koppel demo`` run it."""

from __future__ import annotations

import re
from datetime import date
from uuid import UUID

import pytest
import tomli_w

from application.apply_draft import without_secrets
from application.settings import load_settings_text
from tests.e2e.test_dry_run import MOVED, _posted
from tests.e2e.processes import start_worker, stop
from tests.harness import LEDGER_TOKEN, Harness, csrf_token

TYPED_SECRET = "typed-in-the-draft-0123456789"
PERIOD = (date(2026, 1, 1), date(2026, 12, 31))  # the generator's orders; a page's at most


def _draft_text(h) -> str:
    text = tomli_w.dumps(without_secrets(h.runtime.app.find_connection(h.connection.id).settings))
    for old, new in MOVED.items():
        text = text.replace(old, new)
    return text


def _post(h, draft: str, date_from: str = PERIOD[0].isoformat(),
          date_to: str = PERIOD[1].isoformat()):
    address = f"/connections/{h.connection.id}/settings/dry-run"
    token = csrf_token(h.merchant.get(address).get_data(as_text=True))
    return h.merchant.post(address, data={"draft": draft, "from": date_from, "to": date_to,
                                          "csrf_token": token})


def _jobs(h) -> list[dict]:
    return h.runtime.store.query("SELECT * FROM settings_dry_runs")


def test_the_page_runs_the_dry_run_in_the_workers_with_its_progress(harness,
                                                                     paid_domestic_orders,
                                                                     monkeypatch):
    h = harness
    posted = _posted(h, paid_domestic_orders(4))
    h.runtime.projector.catch_up()
    # A credential typed into the draft (here the ledger's token) is never kept with the job.
    draft = _draft_text(h).replace('api_token = ""', f'api_token = "{TYPED_SECRET}"', 1)
    assert TYPED_SECRET in draft
    # One document a slice, and a message a slice: every step of the progress is seen.
    monkeypatch.setattr("application.dryrun.SLICE", 1)
    monkeypatch.setattr("workers.dryrun_runner.SLICE_SECONDS", 0.0)

    answer = _post(h, draft)

    assert answer.status_code == 303
    found = re.fullmatch(rf"/connections/{h.connection.id}/settings/dry-run/([0-9a-f-]+)",
                         answer.headers["Location"])
    assert found, answer.headers["Location"]
    job_id = found.group(1)
    page = h.merchant.get(answer.headers["Location"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="dry-run-progress"' in html
    assert '<noscript><meta http-equiv="refresh"' in html  # reloads itself without JavaScript
    assert 'id="summary"' not in html
    progress_url = f"/api/connections/{h.connection.id}/settings/dry-run/{job_id}"
    first = h.merchant.get(progress_url)
    assert first.headers["Cache-Control"] == "no-store"
    assert first.get_json() == {"state": "running", "position": 0, "total": len(posted),
                                "apply": None}

    # The first slices run here, one at a time (what a worker does with each message), so
    # the page's progress is read between them whatever the machine's speed; the in-process
    # broker's worker then runs the rest.
    seen = [0]
    for _ in range(2):
        h.runtime.dry_run_runner.run.fn(job_id)
        seen.append(h.merchant.get(progress_url).get_json()["position"])
    assert seen == [0, 1, 2]
    h.runtime.start_workers(1)

    def finished():
        progress = h.merchant.get(progress_url).get_json()
        if progress["position"] != seen[-1]:
            seen.append(progress["position"])
        return progress["state"] == "finished"

    h.wait_until(finished, timeout=60, interval=0.02)
    assert seen == sorted(seen) and seen[-1] == len(posted)

    job = h.runtime.dry_run_jobs.find(UUID(job_id))
    shown = h.runtime.dry_run_jobs.result(job, h.connection.name)
    expected = h.runtime.dry_runs.run(h.connection.id, load_settings_text(draft), *PERIOD)
    assert shown == expected and expected.posted  # the same result, document by document
    summary = h.runtime.dry_run_jobs.summary(job, shown=2)
    assert (summary.examined, summary.changed, summary.posted) == (
        expected.examined, len(expected.documents), len(expected.posted))
    assert summary.shown == expected.documents[:2]  # the first, in the same order
    for which in ("accounts", "vat_codes"):
        assert summary.totals(which) == expected.totals(which)
    assert expected.totals("accounts")

    html = h.merchant.get(answer.headers["Location"]).get_data(as_text=True)
    assert 'id="dry-run-progress"' not in html and "http-equiv" not in html
    assert (f"{expected.examined} documents in the period; {len(expected.documents)} would "
            f"be booked differently") in html
    for comparison in expected.documents:
        assert f'id="doc-{comparison.number}"' in html
    assert 'id="apply"' in html and TYPED_SECRET not in html
    listed = h.merchant.get(f"/connections/{h.connection.id}/settings/dry-run/{job_id}/list.csv")
    assert listed.status_code == 200 and listed.mimetype == "text/csv"
    assert all(c.number in listed.get_data(as_text=True) for c in expected.documents)

    [row] = _jobs(h)
    stored = " ".join(str(value) for value in row.values())
    assert TYPED_SECRET not in stored and LEDGER_TOKEN not in stored and "enc:" not in stored
    assert "8005" in stored  # the draft itself is kept


def test_only_a_valid_draft_becomes_a_job(harness):
    h = harness
    bad_toml = _post(h, "name = ")
    assert bad_toml.status_code == 400 and 'id="problems"' in bad_toml.get_data(as_text=True)
    too_long = _post(h, _draft_text(h), "2025-01-01", "2026-01-03")
    assert too_long.status_code == 400
    assert "at most a year apart" in too_long.get_data(as_text=True)
    backwards = _post(h, _draft_text(h), "2026-02-01", "2026-01-01")
    assert backwards.status_code == 400
    assert _jobs(h) == []


def test_an_embedded_restart_goes_on_with_the_dry_runs_still_running(harness,
                                                                       paid_domestic_orders):
    """Embedded, the queue lives in the process: a dry run whose process ended (its message
    gone with it) goes on when the next one starts its workers."""
    h = harness
    _posted(h, paid_domestic_orders(2))
    h.runtime.projector.catch_up()
    jobs, draft = h.runtime.dry_run_jobs, load_settings_text(_draft_text(h))
    job = jobs.start(h.connection.id, draft, *PERIOD, by="test")  # no message sent
    assert job.state == "running" and job.total == 2

    h.runtime.start_workers(1)

    h.wait_until(lambda: jobs.find(job.id).state == "finished", timeout=60)
    assert jobs.find(job.id).position == 2


def test_a_dry_run_that_keeps_failing_is_given_up_and_says_so(harness, paid_domestic_orders,
                                                              monkeypatch):
    h = harness
    _posted(h, paid_domestic_orders(2))
    h.runtime.projector.catch_up()

    def a_rule_that_breaks(*args, **kwargs):
        raise RuntimeError("a document the rules did not expect")

    monkeypatch.setattr(h.runtime.dry_runs, "compare_documents", a_rule_that_breaks)
    monkeypatch.setitem(h.runtime.dry_run_runner.run.options, "max_retries", 1)
    answer = _post(h, _draft_text(h))
    job_id = UUID(answer.headers["Location"].rsplit("/", 1)[1])
    h.runtime.start_workers(1)

    progress = f"/api/connections/{h.connection.id}/settings/dry-run/{job_id}"
    h.wait_until(lambda: h.merchant.get(progress).get_json()["state"] == "failed", timeout=30)
    html = h.merchant.get(answer.headers["Location"]).get_data(as_text=True)
    assert 'id="failed"' in html and 'id="summary"' not in html
    assert 'id="dry-run-progress"' not in html and "http-equiv" not in html
    assert 'id="compare"' in html  # it may be asked for again


def test_a_slice_run_twice_compares_nothing_twice(harness, paid_domestic_orders, monkeypatch):
    """A message delivered twice (a worker thought dead): the slice saved first stands, the
    other's is dropped, and the result is still the dry run's own."""
    h = harness
    _posted(h, paid_domestic_orders(3))
    h.runtime.projector.catch_up()
    monkeypatch.setattr("application.dryrun.SLICE", 1)
    jobs, draft = h.runtime.dry_run_jobs, load_settings_text(_draft_text(h))
    job = jobs.start(h.connection.id, draft, *PERIOD, by="test")
    real = jobs._save
    raced = []

    def meanwhile_another_worker_saves_it_first(*args):
        if not raced:
            raced.append(None)
            raced[0] = jobs.run(job.id, keep_going=lambda: False)
        real(*args)

    monkeypatch.setattr(jobs, "_save", meanwhile_another_worker_saves_it_first)
    after = jobs.run(job.id, keep_going=lambda: False)
    assert raced[0].position == after.position == 1  # one slice went through, once
    monkeypatch.undo()
    while jobs.find(job.id).state == "running":
        jobs.run(job.id)
    done = jobs.find(job.id)
    assert done.position == done.total == 3
    assert jobs.result(done, h.connection.name) == h.runtime.dry_runs.run(
        h.connection.id, draft, *PERIOD)


@pytest.mark.slow
def test_in_production_a_worker_process_runs_the_dry_run_of_the_page(
        postgres_url, rabbitmq_url, queue_prefix, fakes_on_ports, paid_domestic_orders):
    """PostgreSQL and RabbitMQ, the dry run run by ``koppel worker`` as an operator starts it:
    the page's job reaches its end there, with the result ``DryRuns.run`` gives."""
    h = Harness(postgres_url, broker_url=rabbitmq_url, prefix=queue_prefix,
                servers=fakes_on_ports)
    worker = None
    try:
        _posted(h, paid_domestic_orders(3))
        h.runtime.projector.catch_up()
        draft = _draft_text(h)
        answer = _post(h, draft)
        assert answer.status_code == 303
        job_id = UUID(answer.headers["Location"].rsplit("/", 1)[1])
        worker = start_worker(h)
        jobs = h.runtime.dry_run_jobs
        h.wait_until(lambda: jobs.find(job_id).state == "finished", timeout=90)
        job = jobs.find(job_id)
        assert job.position == job.total == 3
        assert jobs.result(job, h.connection.name) == h.runtime.dry_runs.run(
            h.connection.id, load_settings_text(draft), *PERIOD)
    finally:
        if worker is not None:
            stop(worker)
        h.close()
