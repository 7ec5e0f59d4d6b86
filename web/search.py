"""Search, and a document addressed by its number: ``/orders/1042``, ``/invoices/F2024-001``.

Only the connections the signed-in person may see are searched; a number that two of their
connections share gets a page to choose from.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from domain.access import Action
from projections import queries
from projections.search import search_documents
from web import access

blueprint = Blueprint("search", __name__)


def _store():
    return current_app.extensions["koppel"].store


@blueprint.get("/search")
def search():
    text = (request.args.get("q") or "").strip()[:200]
    rows = search_documents(_store(), text, access.scope(Action.VIEW)) if text else []
    return render_template("search.html", q=text, rows=rows)


@blueprint.get("/<any(orders, invoices):kinds>/<path:number>")
def by_number(kinds: str, number: str):
    kind = kinds[:-1]
    found = [row for row in queries.documents_numbered(_store(), number, access.scope())
             if row["kind"] == kind]
    if not found:
        abort(404)
    if len(found) == 1:
        return redirect(url_for("dashboard.document", doc_id=found[0]["id"]))
    return render_template("choose.html", number=number, kind=kind, rows=found)
