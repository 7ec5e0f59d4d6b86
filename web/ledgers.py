"""A connection's further ledgers (issue 13, part 3): a copy for the accountant, or the
ledger the connection switches to, each with its replay's progress.

Everything here changes the connection, so every route asks ``connect.managed_connection`` first (merchant of
the connection, support). The new ledger gets the connection's own settings (rules, accounts,
VAT codes) with the ledger, its credential and the date the merchant fills in; another chart
of accounts is a settings file for ``koppel ledgers``. The replay runs in the workers
(``workers/replay_runner.py``); the page reads its progress from its events.
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from uuid import UUID

from flask import (Blueprint, abort, current_app, jsonify, redirect, render_template, request,
                   url_for)

from application import settings as settings_file
from application.errors import KoppelError
from application.settings import SettingsError
from domain.ledger_target import Purpose
from web import access
from web.connect import managed_connection
from web.i18n import said

blueprint = Blueprint("ledgers", __name__)


def _runtime():
    return current_app.extensions["koppel"]



def _target_of(connection, target_id: str):
    try:
        target = _runtime().replays.find(UUID(target_id))
    except ValueError:
        abort(404)
    if target is None or target.connection_id != connection.id:
        abort(404)
    return target



def _page(connection, status: int = 200, **extra):
    replays = _runtime().replays
    # Counted in the read model (projections/targets.py): one query per target.
    targets = [(t, replays.progress(t.id)) for t in replays.targets(connection.id)]
    return render_template("ledgers.html", connection=connection, targets=targets,
                           **extra), status


@blueprint.get("/connections/<connection_id>/ledgers")
def ledgers_page(connection_id: str):
    return _page(managed_connection(connection_id))


def _new_ledger_settings(connection):
    """The connection's settings with the ledger the form names (its secrets stay sealed;
    the new credential is sealed when the target is recorded)."""
    form = request.form
    system = form.get("system", "")
    if system not in ("eboekhouden", "billit"):
        abort(400, "system must be eboekhouden or billit")
    credential = form.get("credential", "").strip()
    stored = settings_file.settings_to_dict(connection.settings)
    ledger = dict(stored["ledger"], system=system, api_token="", api_key="")
    ledger["api_key" if system == "billit" else "api_token"] = credential
    stored["ledger"] = ledger
    if system == "billit":
        stored["billit"] = {**(stored.get("billit") or {}),
                            "party_id": form.get("party_id", "").strip(),
                            "payment_status": (stored.get("billit") or {}).get(
                                "payment_status", "shop")}
    return settings_file.settings_from_dict(stored)


@blueprint.post("/connections/<connection_id>/ledgers")
def add(connection_id: str):
    connection = managed_connection(connection_id)
    purpose = request.form.get("purpose", "")
    name = request.form.get("name", "").strip()
    if purpose not in (Purpose.COPY, Purpose.SWITCH) or not name:
        abort(400, "a name and a purpose (copy or switch) are needed")
    try:
        day = date.fromisoformat(request.form.get("from", ""))
    except ValueError:
        abort(400, "from must be a date like 2026-03-14")
    try:
        settings = _new_ledger_settings(connection)
    except SettingsError as error:
        return _page(connection, 422, problem="; ".join(error.problems))
    runtime = _runtime()
    existing = runtime.replays.named(connection.id, name)
    if existing is not None and existing.purpose != purpose:
        as_nl = {"copy": "kopie", "switch": "overstap"}[existing.purpose]
        return _page(connection, 422, problem=said(
            f"{name} bestaat al, als {as_nl}", f"{name} exists already, as a {existing.purpose}"))
    target = runtime.replays.add(connection.id, name, settings,
                                 datetime.combine(day, time(), tzinfo=timezone.utc), purpose,
                                 by=access.me().email)
    if target.state == "running":
        runtime.replay_runner.run.send(str(target.id))
    return redirect(url_for(".ledgers_page", connection_id=connection.id), 303)


@blueprint.post("/connections/<connection_id>/ledgers/<target_id>/<any(pause, resume):action>")
def pause_or_resume(connection_id: str, target_id: str, action: str):
    connection = managed_connection(connection_id)
    target = _target_of(connection, target_id)
    runtime = _runtime()
    if action == "pause":
        runtime.replays.pause(target.id, by=access.me().email)
    elif runtime.replays.resume(target.id, by=access.me().email).state == "running":
        runtime.replay_runner.run.send(str(target.id))
    return redirect(url_for(".ledgers_page", connection_id=connection.id), 303)


@blueprint.post("/connections/<connection_id>/ledgers/<target_id>/switch")
def hand_over(connection_id: str, target_id: str):
    """The last step of a switch: from now on the connection books into the new ledger."""
    connection = managed_connection(connection_id)
    target = _target_of(connection, target_id)
    runtime = _runtime()
    try:
        reopened = runtime.replays.hand_over(target.id, by=access.me().email)
    except (KoppelError, ValueError) as error:
        return _page(connection, 409, problem=said(getattr(error, "message_nl", None),
                                                   getattr(error, "message", str(error))))
    for doc_id in reopened:
        runtime.actors.process.send(str(doc_id))
    return redirect(url_for(".ledgers_page", connection_id=connection.id), 303)


@blueprint.get("/api/connections/<connection_id>/ledgers/<target_id>")
def progress(connection_id: str, target_id: str):
    connection = managed_connection(connection_id)
    target = _target_of(connection, target_id)
    response = jsonify({"state": target.state, "position": target.position,
                        "total": target.total})
    response.headers["Cache-Control"] = "no-store"
    return response
