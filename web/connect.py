"""Connecting a ledger by OAuth (Billit): the dashboard sends the merchant to Billit, Billit
sends them back with a code, koppel trades it for tokens and keeps them sealed.

The ``state`` parameter is signed and short-lived, so a callback cannot be forged or replayed
onto another connection.
"""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint, abort, current_app, redirect, render_template, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from application.errors import KoppelError

blueprint = Blueprint("connect", __name__)

STATE_MAX_AGE = 600  # seconds a merchant may spend on Billit's consent page


def _runtime():
    return current_app.extensions["koppel"]


def _states() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_runtime().config.secret_key, salt="billit-connect")


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


@blueprint.get("/connections/<connection_id>/billit/connect")
def connect(connection_id: str):
    connection = _billit_connection(connection_id)
    client = _runtime().connections.ledger(connection)
    state = _states().dumps(str(connection.id))
    return redirect(client.authorize_url(_callback_uri(connection.id), state))


@blueprint.get("/connections/<connection_id>/billit/callback")
def callback(connection_id: str):
    connection = _billit_connection(connection_id)
    try:
        if _states().loads(request.args.get("state", ""), max_age=STATE_MAX_AGE) != \
                str(connection.id):
            abort(400)
    except BadSignature:
        abort(400, "this link is not from koppel or has expired; start connecting again")
    if request.args.get("error"):
        return render_template("connected.html", ok=False, name=connection.name,
                               message="Billit was not connected: access was not granted."), 400
    runtime = _runtime()
    client = runtime.connections.ledger(connection)
    try:
        client.exchange_code(request.args.get("code", ""), _callback_uri(connection.id))
    except KoppelError as error:
        return render_template("connected.html", ok=False, name=connection.name,
                               message=error.message), 400
    runtime.connections.reconnected(connection.id, by="billit connect")
    return render_template("connected.html", ok=True, name=connection.name,
                           message="Billit is connected; waiting documents are sent now.")
