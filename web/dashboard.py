"""The merchant's pages: Report (posted), Errors (failed), Open (waiting), and one document."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from flask import Blueprint, abort, current_app, jsonify, render_template, request

from projections import queries
from web.audit import document_history

blueprint = Blueprint("dashboard", __name__)

TITLES = {"report": "Report", "errors": "Errors", "open": "Open", "payments": "Payments"}
PAGE_SIZE = 50


def _runtime():
    return current_app.extensions["koppel"]


@blueprint.app_context_processor
def navigation():
    """Every page shows the navigation with its counts."""
    return {"titles": TITLES, "counts": queries.counts(_runtime().store)}


def _date_arg(name: str) -> date | None:
    value = request.args.get(name)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        abort(400, f"{name} must be a date like 2026-03-14")


def _page(page: str):
    return queries.documents_page(
        _runtime().store, page, limit=PAGE_SIZE, after=request.args.get("after"),
        date_from=_date_arg("from"), date_to=_date_arg("to"))


@blueprint.get("/")
def home():
    runtime = _runtime()
    return render_template("home.html", connections=queries.connections(runtime.store),
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
    return jsonify(queries.counts(_runtime().store))


@blueprint.get("/documents/<doc_id>")
def document(doc_id: str):
    try:
        history = document_history(_runtime().app, UUID(doc_id))
    except ValueError:
        abort(404)
    if history is None:
        abort(404)
    return render_template("document.html", history=history)
