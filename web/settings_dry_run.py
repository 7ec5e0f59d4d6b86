"""Try a settings change on history (issue 13.2): a draft of a connection's settings, a
period, and what the rules would have booked with it next to what was booked.

Who may do what (``domain.access``): the dry run, its progress, its page and the correction list
are ``EXPORT`` (the merchant on their own connections, an accountant on those shared with them,
support on all); applying the draft is ``MANAGE`` (the merchant, support), always with a reason,
which is recorded with the new settings version, every document run again and every correction.
The ledger is never called in a request: documents and corrections go to the workers.

A year of a busy shop is tens of thousands of documents, too many for one request: the form
is checked here (a draft that does not read, a period that is no period, are refused at once),
then the dry run is recorded as a job that the workers run (``workers/dryrun_runner.py``) and
the browser is sent to the job's page, which shows its progress (``static/onboarding.js``
polls the JSON route; without JavaScript the page reloads itself) and then its result.
Applying the draft is asked for on that page and done the same way, by the workers from the
dry run's result (``workers/dryrun_apply.py``): the page follows it and then says what was done.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

import tomli_w
from flask import (Blueprint, Response, abort, current_app, jsonify, redirect, render_template,
                   request, url_for)
from flask_babel import gettext as _

from application.apply_draft import DraftRefused, without_secrets
from application.settings import SettingsError, load_settings_text, settings_from_dict
from domain.access import Action
from web import access
from web.correction_list import to_csv, to_xlsx

blueprint = Blueprint("settings_dry_run", __name__)

MAX_DAYS = 366  # a year of documents, at most, in one dry run
MAX_DRAFT = 64 * 1024
SHOWN = 200  # documents shown in detail on the page; the correction list has every one
RELOAD_SECONDS = 2  # a running job's page without JavaScript loads itself again this often
FORMATS = {
    "csv": (to_csv, "text/csv; charset=utf-8"),
    "xlsx": (to_xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}


def _runtime():
    return current_app.extensions["koppel"]


def _connection(connection_id: str, action: Action):
    """The connection's aggregate when the signed-in person may do ``action`` on it (else
    404, as for a connection that does not exist)."""
    try:
        conn_id = UUID(connection_id)
    except ValueError:
        abort(404)
    access.require(action, conn_id)
    aggregate = _runtime().app.find_connection(conn_id)
    if aggregate is None:
        abort(404)
    return aggregate


def _period() -> tuple[date, date] | None:
    try:
        start = date.fromisoformat(request.form.get("from") or "")
        end = date.fromisoformat(request.form.get("to") or "")
    except ValueError:
        return None
    if end < start or (end - start).days > MAX_DAYS:
        return None
    return start, end


def _page(aggregate, draft_text: str, status: int = 200, **extra):
    today = date.today()
    extra.setdefault("date_from", request.form.get("from")
                     or today.replace(month=1, day=1).isoformat())
    extra.setdefault("date_to", request.form.get("to") or today.isoformat())
    return render_template(
        "settings_dry_run.html", connection=aggregate, draft=draft_text,
        may_apply=access.me().may(Action.MANAGE, aggregate.id), shown=SHOWN,
        reload_seconds=RELOAD_SECONDS, **extra), status


def _read_draft(aggregate):
    """The draft and the period of the posted form, or the page that says what is wrong."""
    text = (request.form.get("draft") or "")[:MAX_DRAFT]
    try:
        draft = load_settings_text(text)
    except SettingsError as error:
        return None, None, _page(aggregate, text, 400, problems=error.problems)
    if draft.name != aggregate.name:
        return None, None, _page(aggregate, text, 400, problems=[
            _("name: must stay %(name)s (the draft is for this connection)",
              name=aggregate.name)])
    period = _period()
    if period is None:
        return None, None, _page(aggregate, text, 400, problems=[
            _("Choose the period's first and last day, at most a year apart.")])
    return draft, period, None


def _job_of(aggregate, job_id: str):
    """The connection's dry run ``job_id`` (404 for one of another connection, as for one
    that does not exist)."""
    try:
        job = _runtime().dry_run_jobs.find(UUID(job_id))
    except ValueError:
        abort(404)
    if job is None or job.connection_id != aggregate.id:
        abort(404)
    return job


@blueprint.get("/connections/<connection_id>/settings/dry-run")
def draft_page(connection_id: str):
    aggregate = _connection(connection_id, Action.EXPORT)
    return _page(aggregate, tomli_w.dumps(without_secrets(aggregate.settings)))


@blueprint.post("/connections/<connection_id>/settings/dry-run")
def compare(connection_id: str):
    """A valid draft becomes a job for the workers; the browser goes to its page (PRG)."""
    aggregate = _connection(connection_id, Action.EXPORT)
    draft, period, refused = _read_draft(aggregate)
    if refused is not None:
        return refused
    runtime = _runtime()
    runtime.projector.catch_up()  # a document taken in a moment ago is compared too
    job = runtime.dry_run_jobs.start(aggregate.id, draft, *period, by=access.me().email)
    if job.state == "running":
        runtime.dry_run_runner.run.send(str(job.id))
    return redirect(url_for(".job_page", connection_id=aggregate.id, job_id=job.id), 303)


@blueprint.get("/connections/<connection_id>/settings/dry-run/<job_id>")
def job_page(connection_id: str, job_id: str):
    aggregate = _connection(connection_id, Action.EXPORT)
    return _job_page(aggregate, _job_of(aggregate, job_id))


def _job_page(aggregate, job, status: int = 200, **extra) -> Response:
    runtime = _runtime()
    result = applied = None
    if job.state == "finished":  # the counts, the totals and the first SHOWN documents
        result = runtime.dry_run_jobs.summary(job, SHOWN)
    application = runtime.dry_run_applications.find(job.id)
    if application is not None and application.state == "finished":
        applied = runtime.dry_run_applications.applied(job, application)
    response = Response(*_page(aggregate, job.draft_text, status, job=job, result=result,
                               application=application, applied=applied,
                               date_from=job.date_from.isoformat(),
                               date_to=job.date_to.isoformat(), **extra))
    response.headers["Cache-Control"] = "no-store"  # it changes while the job runs
    return response


@blueprint.get("/api/connections/<connection_id>/settings/dry-run/<job_id>")
def progress(connection_id: str, job_id: str):
    """How far the job is: documents gone through out of those there are; and, once asked
    for, how far applying its draft is."""
    aggregate = _connection(connection_id, Action.EXPORT)
    job = _job_of(aggregate, job_id)
    application = _runtime().dry_run_applications.find(job.id)
    response = jsonify({"state": job.state, "position": job.position, "total": job.total,
                        "apply": None if application is None else {
                            "state": application.state, "position": application.position,
                            "total": application.total,
                            "settings_version": application.settings_version}})
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/connections/<connection_id>/settings/dry-run/<job_id>/list.<any(csv, xlsx):fmt>")
def correction_list(connection_id: str, job_id: str, fmt: str):
    aggregate = _connection(connection_id, Action.EXPORT)
    job = _job_of(aggregate, job_id)
    if job.state != "finished":
        abort(409, "the dry run has not finished yet")
    result = _runtime().dry_run_jobs.result(job, aggregate.name)
    render, mimetype = FORMATS[fmt]
    name = f"koppel-corrections-{result.date_from}-{result.date_to}.{fmt}"
    return Response(render(result, _), mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@blueprint.post("/connections/<connection_id>/settings/dry-run/<job_id>/apply")
def apply(connection_id: str, job_id: str):
    """Apply the finished dry run's draft: checked here, recorded on the job, done by the
    workers from the dry run's result (``workers/dryrun_apply.py``); the browser goes back to
    the job's page, which follows it. Asked again, nothing changes (the page shows how far
    the first is), unless it failed: then it goes on where it stopped."""
    aggregate = _connection(connection_id, Action.MANAGE)
    job = _job_of(aggregate, job_id)
    reason = (request.form.get("reason") or "").strip()[:500]
    runtime = _runtime()
    if not reason:
        return _job_page(aggregate, job, 400, problems=[
            _("Say why the settings change: it is kept with your name.")])
    if job.state != "finished":
        return _job_page(aggregate, job, 409, problems=[
            _("The dry run has not finished: it can be applied once it has.")])
    try:
        runtime.apply_draft.check(aggregate.id, settings_from_dict(job.draft))
    except DraftRefused as error:
        return _job_page(aggregate, job, 400, problems=[str(error)])
    send = runtime.dry_run_applications.request(
        job, by=access.me().email, reason=reason,
        book_corrections=request.form.get("book_corrections") == "on")[1]
    if send:
        runtime.apply_runner.run.send(str(job.id))
    return redirect(url_for(".job_page", connection_id=aggregate.id, job_id=job.id), 303)
