"""The accounts pages (admin): who has an account, with which role and connections, and who
could see a connection on a given day."""

from __future__ import annotations

from datetime import date, datetime, timezone

from flask import Blueprint, abort, current_app, render_template, request

from domain.access import Action
from projections import queries
from web.access import requires

blueprint = Blueprint("people", __name__)


def _store():
    return current_app.extensions["koppel"].store


@blueprint.get("/people")
@requires(Action.ACCOUNTS)
def people():
    store = _store()
    return render_template("people.html", people=queries.people(store),
                           connections=queries.connections(store))


@blueprint.get("/people/who-could-see")
@requires(Action.ACCOUNTS)
def who_could_see():
    store = _store()
    connection_id = request.args.get("connection", "")
    connection = next((c for c in queries.connections(store) if c["id"] == connection_id), None)
    if connection is None:
        abort(404)
    try:
        on = date.fromisoformat(request.args.get("on") or
                                datetime.now(timezone.utc).date().isoformat())
    except ValueError:
        abort(400, "on must be a date like 2026-03-14")
    return render_template("who_could_see.html", connection=connection, on=on,
                           rows=queries.who_could_see(store, connection_id, on),
                           reasons=queries.consultations(store, connection_id, on))
