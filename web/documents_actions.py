"""What a person does with documents in Errors or Open: Process a selection of them again, and
Report a problem with one to support (its audit and their note, by e-mail). The document page's
own Process button is ``dashboard.reprocess``."""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _

from domain.access import Action, reason_required
from web import access, i18n
from web.audit import history_text
from web.dashboard import visible_document
from web.mail import MailError
from web.reprocess import MAX_SELECTION, Asked, ask_to_process

blueprint = Blueprint("documents_actions", __name__)

DEFAULT_REASON = "processed again from the dashboard"
MAX_NOTE = 4000


def _runtime():
    return current_app.extensions["koppel"]


def _reason() -> str | None:
    """The person's reason; None when support gave none (they must)."""
    reason = (request.form.get("reason") or "").strip()[:500]
    if not reason and reason_required(access.me().role):
        return None
    return reason or DEFAULT_REASON


def _tell(asked: Asked) -> None:
    if asked.queued:
        flash(_("Processed again: %(numbers)s. This page shows the outcome when it is there.",
                numbers=", ".join(asked.queued)))
    if asked.posted:
        flash(_("Posted documents are not processed again: %(numbers)s.",
                numbers=", ".join(asked.posted)))
    for number, error in asked.refused:
        why = i18n.said(error.message_nl, error.message)
        flash(_("%(number)s was not processed again: %(why)s", number=number, why=why))


@blueprint.post("/documents/process")
def process_selection():
    """One POST for the documents ticked on Errors or Open."""
    back = access.safe_next(request.form.get("next"), "/errors")
    ids = list(dict.fromkeys(request.form.getlist("doc")))[:MAX_SELECTION]
    if not ids:
        flash(_("Tick the documents to process first."))
        return redirect(back, 303)
    try:
        wanted = [str(UUID(i)) for i in ids]
    except ValueError:
        abort(404)
    rows = _runtime().store.query(
        f"SELECT id, number, connection_id FROM documents WHERE id IN "
        f"({', '.join('?' * len(wanted))})", wanted)
    if len(rows) != len(wanted):
        abort(404)
    for row in rows:  # all or nothing: one document the person may not manage refuses all
        access.require(Action.MANAGE, row["connection_id"])
    reason = _reason()
    if reason is None:
        flash(_("Say why you process this merchant's document again."))
        return redirect(back, 303)
    by_id = {row["id"]: row for row in rows}
    _tell(ask_to_process(_runtime(), [(UUID(i), by_id[i]["number"]) for i in wanted],
                         access.me().email, reason))
    return redirect(back, 303)


@blueprint.post("/documents/<doc_id>/report-problem")
def report_problem(doc_id: str):
    """The document's whole history and the person's note, to support by e-mail."""
    history = visible_document(doc_id, Action.MANAGE)
    note = (request.form.get("note") or "").strip()[:MAX_NOTE]
    config = _runtime().config
    if not config.support_email or not config.mail.configured:
        flash(_("This koppel has no e-mail set up for support; ask whoever runs it."))
        return redirect(url_for("dashboard.document", doc_id=doc_id), 303)
    connection = _runtime().connections.get(UUID(history["connection_id"]))
    subject = f"koppel: problem with {history['kind']} {history['number']} ({connection.name})"
    body = (f"From: {access.me().email}\nConnection: {connection.name}\n"
            f"Page: {config.public_url}/documents/{doc_id}\n\n"
            f"Note:\n{note or '(none)'}\n\n---- audit ----\n{history_text(history)}\n")
    try:
        config.mail.send(config.support_email, subject, body)
    except MailError:
        flash(_("The report could not be sent; try again later."))
    else:
        flash(_("Sent to support, with this document's history."))
    return redirect(url_for("dashboard.document", doc_id=doc_id), 303)
