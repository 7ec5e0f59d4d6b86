"""The merchant's pages: Report (posted), Errors (failed), Open (waiting), and one document.

The pages are in English or Dutch (``web.i18n``). The list pages keep themselves up to date:
a small script in ``base.html`` polls ``/api/counts`` and, when something changed, fetches the
page again and swaps only its live parts, so the reader's scroll and filters stay.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode
from uuid import UUID

from flask import Blueprint, abort, current_app, g, jsonify, render_template, request
from flask_babel import lazy_gettext as _l

from projections import queries
from web import i18n
from web.audit import document_history

blueprint = Blueprint("dashboard", __name__)
blueprint.record_once(lambda state: i18n.init_app(state.app))

TITLES = {"report": _l("Report"), "errors": _l("Errors"), "open": _l("Open"),
          "payments": _l("Payments")}
PAGE_SIZE = 50
POSITION_HEADER = "X-Koppel-Position"  # on /api/counts: changes with every event projected


def _runtime():
    return current_app.extensions["koppel"]


@blueprint.before_request
def _note_position():
    """The projector's position before anything is read: a page shows at least this much, so
    the live script knows it is behind once ``/api/counts`` reports another position."""
    g.position = _runtime().projector.position()


@blueprint.app_context_processor
def navigation():
    """Every page shows the navigation with its counts."""
    return {"titles": TITLES, "counts": queries.counts(_runtime().store), "page_url": page_url,
            "position": g.get("position")}


def page_url(**changes) -> str:
    """This page's address with some query arguments changed (``None`` drops one)."""
    args = {k: v for k, v in request.args.items() if k not in changes}
    args.update({k: v for k, v in changes.items() if v not in (None, "")})
    return request.path + ("?" + urlencode(args) if args else "")


def _date_arg(name: str) -> date | None:
    value = request.args.get(name)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        abort(400, f"{name} must be a date like 2026-03-14")


def _page(page: str):
    try:
        return queries.documents_page(
            _runtime().store, page, limit=PAGE_SIZE, after=request.args.get("after"),
            date_from=_date_arg("from"), date_to=_date_arg("to"))
    except ValueError:
        abort(400, "after must be the cursor of a page's next link, as koppel made it")


def _ledger_system(connection_id: str) -> str | None:
    try:
        return _runtime().connections.get(UUID(connection_id)).settings.ledger.system
    except Exception:  # a connection the read model knows but the log does not (yet)
        return None


@blueprint.get("/")
def home():
    runtime = _runtime()
    connections = [dict(c, system=_ledger_system(c["id"]))
                   for c in queries.connections(runtime.store)]
    return render_template("home.html", connections=connections,
                           missed=queries.missed_webhooks(runtime.store))


@blueprint.get("/<any(report, errors, open, payments):page>")
def documents(page: str):
    result = _page(page)
    return render_template("documents.html", page=page, title=TITLES[page], rows=result.rows,
                           next_cursor=result.next_cursor, args=request.args)


@blueprint.get("/api/<any(report, errors, open, payments):page>")
def documents_json(page: str):
    result = _page(page)
    return jsonify({"items": result.rows, "next": result.next_cursor})


@blueprint.get("/api/counts")
def counts_json():
    runtime = _runtime()
    response = jsonify(queries.counts(runtime.store))
    response.headers[POSITION_HEADER] = str(runtime.projector.position())
    response.headers["Cache-Control"] = "no-store"
    return response


def _customer(history: dict) -> str:
    """The customer's name from the latest source the shop gave."""
    for event in reversed(history["events"]):
        source = event["fields"].get("source")
        if not isinstance(source, dict):
            continue
        for part in (source, *source.values()):  # {"order": {..., "customer": ...}, ...}
            customer = part.get("customer") if isinstance(part, dict) else None
            if isinstance(customer, dict):
                billing = customer.get("billingaddress") or {}
                return billing.get("company") or billing.get("full_name") or ""
        return ""
    return ""


@blueprint.get("/documents/<doc_id>")
def document(doc_id: str):
    try:
        history = document_history(_runtime().app, UUID(doc_id))
    except ValueError:
        abort(404)
    if history is None:
        abort(404)
    return render_template("document.html", history=history, customer=_customer(history))
