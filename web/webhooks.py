"""The webhook endpoint: one unguessable address per connection and event.

The body is only a hint of which document changed: the document is always fetched again over
the signed shop API, so a forged body can at most make koppel look at a real order once more.
Nothing is recorded for a bad token, bad JSON or an oversized body (4xx).
"""

from __future__ import annotations

import json
import re
from uuid import UUID

from flask import Blueprint, abort, current_app, jsonify, request

from application.processing import booked_kind
from application.secrets import token_matches

blueprint = Blueprint("webhooks", __name__)

# R1: the shop events koppel acts on, and the document kind each one is about.
EVENTS = {
    "orders.created": "order",
    "orders.updated.ispaid": "order",
    "orders.updated.status": "order",
    "invoices.updated.status": "invoice",
}
_HREF_KIND = re.compile(r"/(orders|invoices)/(\d+)/?$")


def _problem(status: int, message: str):
    response = jsonify({"error": message})
    response.status_code = status
    return response


@blueprint.post("/webhooks/<connection_id>/<token>/<event>")
def receive(connection_id: str, token: str, event: str):
    runtime = current_app.extensions["koppel"]
    try:
        conn_uuid = UUID(connection_id)
    except ValueError:
        abort(404)
    if not token_matches(runtime.config.secret_key, conn_uuid, token):
        abort(404)  # the same answer as an unknown address: a wrong token reveals nothing
    if event not in EVENTS:
        return _problem(400, f"unknown event {event!r}; expected one of {sorted(EVENTS)}")
    if runtime.app.find_connection(conn_uuid) is None:
        abort(404)
    connection = runtime.connections.get(conn_uuid)
    try:
        body = json.loads(request.get_data(cache=False) or b"")
    except (ValueError, UnicodeDecodeError):
        return _problem(400, "the body is not valid JSON")
    shop_id = _shop_id(body, EVENTS[event])
    if shop_id is None:
        return _problem(400, "the body names no document id (expected 'id' or 'href')")
    if EVENTS[event] != booked_kind(connection.settings):
        # Answered as received so the shop does not retry; this connection books the other
        # kind of document (shop.process), which arrives by its own events and the sweep.
        return jsonify({"ignored": f"this connection books {booked_kind(connection.settings)}s"
                        }), 202
    entry = runtime.accept_webhook(connection_id, EVENTS[event], shop_id, event)
    return jsonify({"accepted": entry}), 202


def _shop_id(body, kind: str) -> int | None:
    if not isinstance(body, dict):
        return None
    href = body.get("href")
    if isinstance(href, str):
        match = _HREF_KIND.search(href)
        if match and match.group(1) == f"{kind}s":
            return int(match.group(2))
    value = body.get("id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
