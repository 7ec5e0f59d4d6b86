"""A connection's own page: its two status dots, its start date, connecting its ledger, and
importing its history (issue 10, "Install and connect").

Everything here changes the connection, so every route asks ``connect.managed_connection`` first. The import's
progress is read from its events (``/api/connections/<id>/imports/<import>``), so the page
shows it whichever process runs the import; ``static/onboarding.js`` polls it.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from uuid import UUID

from flask import (Blueprint, abort, current_app, jsonify, redirect, render_template, request,
                   url_for)

from application.errors import KoppelError
from application.history_import import period_of
from domain.history_import import import_id
from web import access
from web.connect import managed_connection
from web.i18n import said

blueprint = Blueprint("onboarding", __name__)


def _runtime():
    return current_app.extensions["koppel"]



def _who() -> str:
    return access.me().email



def _day(name: str) -> date:
    try:
        return date.fromisoformat(request.form.get(name, ""))
    except ValueError:
        abort(400, f"{name} must be a date like 2026-03-14")


def _page(connection, **extra):
    runtime = _runtime()
    aggregate = runtime.app.find_connection(connection.id)
    imports = [runtime.imports.find(import_id(connection.id, start, end))
               for start, end in aggregate.imported]
    set_aside = runtime.store.scalar(
        "SELECT COUNT(*) FROM documents WHERE connection_id = ? AND status = 'before_start'",
        [str(connection.id)])
    return render_template("connection.html", connection=connection, aggregate=aggregate,
                           imports=[i for i in imports if i is not None],
                           set_aside=int(set_aside or 0), **extra)


@blueprint.get("/connections/<connection_id>")
def connection_page(connection_id: str):
    return _page(managed_connection(connection_id))


@blueprint.post("/connections/<connection_id>/check")
def check(connection_id: str):
    connection = managed_connection(connection_id)
    _runtime().onboarding.check_shop(connection.id)
    _runtime().onboarding.check_ledger(connection.id)
    return redirect(url_for(".connection_page", connection_id=connection.id), 303)


@blueprint.post("/connections/<connection_id>/start-date")
def start_date(connection_id: str):
    connection = managed_connection(connection_id)
    day = _day("start_date")
    _runtime().connections.set_start_date(
        connection.id, datetime.combine(day, time(), tzinfo=timezone.utc), by=_who())
    return redirect(url_for(".connection_page", connection_id=connection.id), 303)


@blueprint.post("/connections/<connection_id>/ledger/token")
def ledger_token(connection_id: str):
    """e-Boekhouden's API token or Billit's API key, pasted."""
    connection = managed_connection(connection_id)
    outcome = _runtime().onboarding.connect_ledger(
        connection.id, request.form.get("api_token", ""), by=_who())
    connection = _runtime().connections.get(connection.id)
    return _page(connection, token_outcome=outcome,
                 token_message=said(outcome.message_nl, outcome.message_en)), \
        200 if outcome.ok else 422


@blueprint.post("/connections/<connection_id>/imports/dry-run")
def dry_run(connection_id: str):
    connection = managed_connection(connection_id)
    date_from, date_to = _day("from"), _day("to")
    try:
        result = _runtime().imports.dry_run(connection.id, period_of(date_from, date_to))
    except KoppelError as error:
        return _page(connection, import_problem=said(error.message_nl, error.message),
                     period=(date_from, date_to)), 502
    except ValueError:
        abort(400, "the period ends before it starts")
    return _page(connection, dry=result, period=(date_from, date_to))


@blueprint.post("/connections/<connection_id>/imports")
def start_import(connection_id: str):
    connection = managed_connection(connection_id)
    runtime = _runtime()
    try:
        imported = runtime.imports.start(connection.id, period_of(_day("from"), _day("to")),
                                         by=_who())
    except KoppelError as error:
        return _page(connection, import_problem=said(error.message_nl, error.message)), 502
    except ValueError:
        abort(400, "the period ends before it starts")
    runtime.import_runner.run.send(str(imported.id))
    return redirect(url_for(".connection_page", connection_id=connection.id) + "#imports", 303)


def _import_of(connection, imp_id: str):
    try:
        imported = _runtime().imports.find(UUID(imp_id))
    except ValueError:
        abort(404)
    if imported is None or imported.connection_id != connection.id:
        abort(404)
    return imported


@blueprint.post("/connections/<connection_id>/imports/<imp_id>/<any(pause, resume):action>")
def pause_or_resume(connection_id: str, imp_id: str, action: str):
    connection = managed_connection(connection_id)
    imported = _import_of(connection, imp_id)
    runtime = _runtime()
    if action == "pause":
        runtime.imports.pause(imported.id, by=_who())
    elif runtime.imports.resume(imported.id, by=_who()).state == "running":
        runtime.import_runner.run.send(str(imported.id))
    return redirect(url_for(".connection_page", connection_id=connection.id) + "#imports", 303)


@blueprint.get("/api/connections/<connection_id>/imports/<imp_id>")
def import_progress(connection_id: str, imp_id: str):
    connection = managed_connection(connection_id)
    imported = _import_of(connection, imp_id)
    response = jsonify({"state": imported.state, "position": imported.position,
                        "total": imported.total})
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.app_template_filter("last_day")
def last_day(end: str) -> str:
    """The last day of a period that ends (exclusive) at midnight ``end``."""
    return (datetime.fromisoformat(end) - timedelta(days=1)).date().isoformat()


@blueprint.app_template_filter("dot")
def dot(check: dict | None) -> str:
    """The CSS class of a status dot: green only after a real call succeeded."""
    if not check:
        return "dot-unknown"
    return "dot-ok" if check["ok"] else "dot-bad"

