"""Connecting a ledger by OAuth (Billit): the dashboard sends the merchant to Billit, Billit
sends them back with a code, koppel trades it for tokens and keeps them sealed.

The ``state`` parameter is bound to the browser session that started the flow, single use and
short-lived (web/connect_state.py), so a callback cannot be forged, replayed, or completed in
someone else's browser.
"""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint, abort, current_app, redirect, render_template, request

from application.errors import KoppelError
from domain.access import Action
from web import access
from web.connect_state import ConnectStates, StateRefused

blueprint = Blueprint("connect", __name__)


def _runtime():
    return current_app.extensions["koppel"]


def _states() -> ConnectStates:
    runtime = _runtime()
    return ConnectStates(runtime.config.secret_key, runtime.spent_states)


def _callback_uri(conn_id: UUID) -> str:
    return f"{_runtime().config.public_url}/connections/{conn_id}/billit/callback"


def _billit_connection(connection_id: str):
    runtime = _runtime()
    try:
        conn_id = UUID(connection_id)
        connection = runtime.connections.get(conn_id)
    except (ValueError, LookupError):
        abort(404)
    if connection.settings.ledger.system != "billit":
        abort(404)
    return connection


def managed_connection(connection_id: str):
    """The connection, when the signed-in person may manage it; else 404, as for none at all
    (an id that is no id too)."""
    try:
        connection = _runtime().connections.get(UUID(connection_id))
    except (ValueError, LookupError):
        abort(404)
    require_manage(connection)
    return connection


def require_manage(connection) -> None:
    """Only a signed-in person who may manage this connection may (re)bind its ledger, for
    the start and the way back; anyone else gets 404, as for a connection that is not there."""
    access.require(Action.MANAGE, connection.id)


def _refused(connection, message: str):
    return render_template("connected.html", ok=False, name=connection.name,
                           message=message), 400


@blueprint.get("/connections/<connection_id>/billit/connect")
def connect(connection_id: str):
    connection = _billit_connection(connection_id)
    require_manage(connection)
    client = _runtime().connections.ledger(connection)
    state = _states().issue(connection.id)
    return redirect(client.authorize_url(_callback_uri(connection.id), state))


@blueprint.get("/connections/<connection_id>/billit/callback")
def callback(connection_id: str):
    connection = _billit_connection(connection_id)
    require_manage(connection)
    try:
        _states().accept(connection.id, request.args.get("state", ""))
    except StateRefused as refused:
        return _refused(connection, refused.message)
    if request.args.get("error"):
        return _refused(connection, "Billit was not connected: access was not granted.")
    runtime = _runtime()
    client = runtime.connections.ledger(connection)
    try:
        client.exchange_code(request.args.get("code", ""), _callback_uri(connection.id))
    except KoppelError as error:
        return _refused(connection, error.message)
    runtime.connections.reconnected(connection.id, by="billit connect")
    return render_template("connected.html", ok=True, name=connection.name,
                           message="Billit is connected; waiting documents are sent now.")
