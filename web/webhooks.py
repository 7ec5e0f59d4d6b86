"""The webhook endpoint: one unguessable address per connection and event.

The body is only a hint of which document changed: the document is always fetched again over
the signed shop API, so a forged body can at most make koppel look at a real order once more.
Nothing is recorded for a bad token, bad JSON or an oversized body (4xx).
"""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint, abort, current_app, jsonify, request

from application.connections import UnknownConnection
from application.secrets import token_matches
from web.access import public
from domain.modes import booked_kind
from workers.connectors.ccvshop import parse_webhook

blueprint = Blueprint("webhooks", __name__)

# R1: the shop events koppel acts on, and the document kind each one is about.
EVENTS = {
    "orders.created": "order",
    "orders.updated.ispaid": "order",
    "orders.updated.status": "order",
    "invoices.updated.status": "invoice",
}


def _problem(status: int, message: str):
    response = jsonify({"error": message})
    response.status_code = status
    return response


@blueprint.post("/webhooks/<connection_id>/<token>/<event>")
@public  # the shop cannot sign in: the token in the address is the protection
def receive(connection_id: str, token: str, event: str):
    runtime = current_app.extensions["koppel"]
    try:
        connection = runtime.connections.get(UUID(connection_id))
    except (ValueError, UnknownConnection):
        abort(404)
    if not token_matches(runtime.config.secret_key, connection.id, connection.webhook_generation,
                         token):
        abort(404)  # the same answer as an unknown address: a wrong token reveals nothing
    if event not in EVENTS:
        return _problem(400, f"unknown event {event!r}; expected one of {sorted(EVENTS)}")
    try:
        hint = parse_webhook(request.get_data(cache=False))
    except ValueError as error:
        return _problem(400, str(error))
    if hint["event_kind"] != EVENTS[event] or hint["id"] <= 0:
        return _problem(400, f"the body names {hint['event_kind']} {hint['id']}; {event} "
                             f"is about {EVENTS[event]}s")
    shop_id = hint["id"]
    if EVENTS[event] != booked_kind(connection.settings):
        # Answered as received so the shop does not retry; this connection books the other
        # kind of document (shop.process), which arrives by its own events and the sweep.
        return jsonify({"ignored": f"this connection books {booked_kind(connection.settings)}s"
                        }), 202
    entry = runtime.accept_webhook(connection_id, EVENTS[event], shop_id, event)
    return jsonify({"accepted": entry}), 202
