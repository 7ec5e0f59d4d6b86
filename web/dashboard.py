"""The merchant's pages: Report (posted), Errors (failed), Open (waiting), and one document.

Every list, count and document is limited to the connections the signed-in person may see
(``web.access``); a document of another connection answers 404, as if it did not exist.

The pages are in English or Dutch (``web.i18n``). The list pages keep themselves up to date:
a small script in ``base.html`` polls ``/api/counts`` and, when something changed, fetches the
page again and swaps only its live parts, so the reader's scroll and filters stay.
"""

from __future__ import annotations

import time
from datetime import date
from urllib.parse import urlencode
from uuid import UUID

from flask import (Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template,
                   request, session, url_for)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from application.errors import KoppelError
from domain.access import Action, reason_required
from domain.document import DocumentError
from projections import queries
from projections.activity import activity
from web import access, charts, i18n
from web.audit import document_history

blueprint = Blueprint("dashboard", __name__)
blueprint.record_once(lambda state: i18n.init_app(state.app))

TITLES = {"report": _l("Report"), "errors": _l("Errors"), "open": _l("Open"),
          "payments": _l("Payments")}
PAGE_SIZE = 50
CONSULT_SECONDS = 3600  # support states a reason per connection once an hour
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
    """Every page shows the navigation; a person who sees documents, with their counts."""
    shown = current_user.is_authenticated and access.scope() != []
    return {"titles": TITLES if shown else {},
            "counts": queries.counts(_runtime().store, access.scope()) if shown else {},
            "page_url": page_url, "position": g.get("position")}


def page_url(**changes) -> str:
    """This page's address with some query arguments changed (``None`` drops one)."""
    args = {k: v for k, v in request.args.items() if k not in changes}
    args.update({k: v for k, v in changes.items() if v not in (None, "")})
    return request.path + ("?" + urlencode(args) if args else "")


# Said on the error page, in the page's language (web/errors.py shows a refusal's own reason).
DATE_PROBLEMS = {"from": _l("from must be a date like 2026-03-14"),
                 "to": _l("to must be a date like 2026-03-14")}


def _date_arg(name: str) -> date | None:
    value = request.args.get(name)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        abort(400, str(DATE_PROBLEMS[name]))


def _page(page: str, action: Action = Action.VIEW):
    try:
        return queries.documents_page(
            _runtime().store, page, limit=PAGE_SIZE, after=request.args.get("after"),
            date_from=_date_arg("from"), date_to=_date_arg("to"), scope=access.scope(action))
    except ValueError:
        abort(400, _("after must be the cursor of a page's next link, as koppel made it"))


def _connection(row: dict) -> dict:
    """The read model's row with what the overview shows from the connection itself."""
    try:
        connection = _runtime().connections.get(UUID(row["id"]))
    except Exception:  # a connection the read model knows but the log does not (yet)
        return dict(row, system=None, start_date=None)
    return dict(row, system=connection.settings.ledger.system,
                start_date=connection.span.start_date)


def _problem_nl(connection_id: str) -> str | None:
    """The refused credentials' problem in Dutch (the read model keeps the English)."""
    connection = _runtime().app.find_connection(UUID(connection_id))
    return connection.credentials_problem_nl if connection is not None else None


@blueprint.get("/")
def home():
    if access.me().may(Action.ACCOUNTS):  # an admin looks after people, not documents
        return redirect(url_for("people.people"))
    runtime = _runtime()
    scope = access.scope()
    connections = [dict(_connection(c), problem_nl=_problem_nl(c["id"]),
                        manage=access.me().may(Action.MANAGE, c["id"]))
                   for c in queries.connections(runtime.store, scope)]
    for c in connections:
        c["shared_with"] = queries.shared_with(runtime.store, c["id"]) if c["manage"] else []
    return render_template("home.html", connections=connections,
                           missed=queries.missed_webhooks(runtime.store, scope),
                           **_pictures(scope))


def _pictures(scope) -> dict:
    """The Overview's charts (projections/activity.py, web/charts.py)."""
    found = activity(_runtime().store, scope=scope, timezone_name=i18n.TIMEZONE)

    def day_title(day) -> str:
        return _("%(day)s: %(booked)s booked, %(failed)s failed", day=i18n.day(day.day),
                 booked=day.booked, failed=day.failed)

    return {"days_chart": charts.stacked_days(found.days, day_title),
            "waiting_chart": charts.horizontal(
                found.waiting, lambda key: i18n.label(key, {**i18n.STATUSES, **i18n.WAITING_FOR})),
            "totals": {"booked": sum(d.booked for d in found.days),
                       "failed": sum(d.failed for d in found.days)}}


@blueprint.get("/<any(report, errors, open, payments):page>")
def documents(page: str):
    result = _page(page)
    return render_template("documents.html", page=page, title=TITLES[page], rows=result.rows,
                           next_cursor=result.next_cursor, args=request.args)


@blueprint.get("/api/<any(report, errors, open, payments):page>")
def documents_json(page: str):
    result = _page(page, Action.EXPORT)
    return jsonify({"items": result.rows, "next": result.next_cursor})


@blueprint.get("/api/counts")
def counts_json():
    runtime = _runtime()
    response = jsonify(queries.counts(runtime.store, access.scope()))
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


def visible_document(doc_id: str, action: Action):
    """The document's history, if it exists and the person may do ``action`` on its
    connection; else 404 either way."""
    try:
        history = document_history(_runtime().app, UUID(doc_id))
    except ValueError:
        abort(404)
    if history is None:
        abort(404)
    access.require(action, history["connection_id"])
    return history


def _consulted(connection_id: str) -> bool:
    """Support has said why they look at this connection (within the hour)."""
    if not reason_required(access.me().role):
        return True
    return time.time() - session.get("consulted", {}).get(connection_id, 0) < CONSULT_SECONDS


@blueprint.post("/connections/<connection_id>/reason")
def consult(connection_id: str):
    """Support's reason to look at a merchant's documents, recorded before they see them."""
    access.require(Action.VIEW, connection_id)
    reason = (request.form.get("reason") or "").strip()
    back = access.safe_next(request.args.get("next"))
    if not reason_required(access.me().role):
        return redirect(back, 303)
    if reason:
        _runtime().accounts.consulted(access.me().user_id, UUID(connection_id), reason)
        session["consulted"] = {**session.get("consulted", {}), connection_id: time.time()}
    return redirect(back, 303)


@blueprint.get("/documents/<doc_id>")
def document(doc_id: str):
    history = visible_document(doc_id, Action.VIEW)
    if not _consulted(history["connection_id"]):
        connection = _runtime().connections.get(UUID(history["connection_id"]))
        return render_template("reason.html", connection=connection, history=history)
    return render_template("document.html", history=history, customer=_customer(history),
                           manage=access.me().may(Action.MANAGE, history["connection_id"]),
                           reason_required=reason_required(access.me().role))


@blueprint.post("/documents/<doc_id>/reprocess")
def reprocess(doc_id: str):
    """Fetches a document in Errors or Open from the shop and runs it again; who asked and
    why are kept in its history."""
    history = visible_document(doc_id, Action.MANAGE)
    me = access.me()
    reason = (request.form.get("reason") or "").strip()
    if not reason and reason_required(me.role):
        flash(_("Say why you process this merchant's document again."))
        return redirect(url_for("dashboard.document", doc_id=doc_id), 303)
    runtime = _runtime()
    try:  # fetched from the shop again first: what the merchant fixed there counts
        runtime.processing.request_reprocess(
            UUID(doc_id), by=me.email, reason=reason or "processed again from the dashboard")
    except DocumentError:
        flash(_("A posted document is not processed again."))
        return redirect(url_for("dashboard.document", doc_id=doc_id), 303)
    except KoppelError as error:  # the shop: unreachable, refused, or no such document
        flash(i18n.said(error.message_nl, error.message))
        return redirect(url_for("dashboard.document", doc_id=doc_id), 303)
    runtime.actors.process.send(history["id"])
    flash(_("Processing again; this page shows the outcome when it is there."))
    return redirect(url_for("dashboard.document", doc_id=doc_id), 303)
