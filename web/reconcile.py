"""The reconciliation page (issue 13.1): shop, koppel and ledger of one connection over a
period side by side, every difference with its kind, and the same as CSV/XLSX.

Who may: whoever may export the connection's documents (the merchant their own, the
accountant what is shared with them, support every connection after saying why). It reads the
shop's and the ledger's list APIs while the page loads: a month of a busy shop takes seconds
(``bench/reconcile.py``), and the scheduled monthly run (``workers/reconcile_schedule.py``)
mails when something differs, so nobody has to wait for it by hand.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from uuid import UUID

from flask import Blueprint, Response, abort, current_app, render_template, request, session
from flask_babel import get_locale, gettext

from application.errors import KoppelError
from application.reconciliation import Reconciliations, Report
from domain.access import Action, reason_required
from domain.modes import booked_kind
from projections.reconciliation import BookedDocuments
from web import access
from web.periods import asked_period
from web.reconcile_files import changes_text, kind_text, sections, to_csv, to_xlsx

blueprint = Blueprint("reconcile", __name__)

FORMATS = {
    "csv": (to_csv, "text/csv; charset=utf-8"),
    "xlsx": (to_xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}
MAX_DAYS = 366  # every booking of the period is read from the ledger, one by one
CONSULT_SECONDS = 3600  # as on a document's page (web.dashboard)


def service(runtime) -> Reconciliations:
    return Reconciliations(runtime.connections, BookedDocuments(runtime.store))


def last_month(today: date) -> tuple[date, date]:
    end = today.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


def last_quarter(today: date) -> tuple[date, date]:
    """The calendar quarter before today's (the OSS declaration's period)."""
    start = today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1)
    end = start - timedelta(days=1)
    return end.replace(month=(end.month - 1) // 3 * 3 + 1, day=1), end


def _connection(connection_id: str):
    access.require(Action.EXPORT, connection_id)
    try:
        return current_app.extensions["koppel"].connections.get(UUID(connection_id))
    except LookupError:
        abort(404)


def _period() -> tuple[date, date] | None:
    """None when the address names no period (the page then offers last month)."""
    if not request.args.get("from") and not request.args.get("to"):
        return None
    return asked_period(MAX_DAYS, gettext(
        "The period ends before it starts, or is longer than a year."))


def _consulted(connection_id: str) -> bool:
    """Support has said why they look at this connection (within the hour)."""
    if not reason_required(access.me().role):
        return True
    return time.time() - session.get("consulted", {}).get(connection_id, 0) < CONSULT_SECONDS


def _run(connection_id: str, first: date, last: date) -> tuple[Report | None, str]:
    try:
        return service(current_app.extensions["koppel"]).run(UUID(connection_id), first,
                                                              last), ""
    except KoppelError as error:  # the shop or ledger unreachable or refusing: said plainly
        dutch = str(get_locale() or "").startswith("nl")
        return None, error.message_nl if dutch else error.message


@blueprint.get("/connections/<connection_id>/reconcile")
def reconcile_page(connection_id: str):
    connection = _connection(connection_id)
    period = _period()
    first, last = period or last_month(date.today())
    if not _consulted(connection_id):
        return render_template("reconcile.html", connection=connection, first=first,
                               last=last, report=None, problem="", ask_reason=True)
    report, problem = _run(connection_id, first, last) if period else (None, "")
    today = date.today()
    return render_template(
        "reconcile.html", connection=connection, first=first, last=last, report=report,
        periods={"month": last_month(today), "quarter": last_quarter(today)},
        problem=problem, ask_reason=False,
        kinds="invoices" if booked_kind(connection.settings) == "invoice" else "orders",
        tables=list(sections(report, gettext)) if report else [],
        kind_text=lambda kind: kind_text(kind, gettext),
        changes_text=lambda changes: changes_text(changes, gettext))


@blueprint.get("/connections/<connection_id>/reconcile.<any(csv, xlsx):fmt>")
def reconcile_file(connection_id: str, fmt: str):
    _connection(connection_id)
    first, last = _period() or last_month(date.today())
    if not _consulted(connection_id):
        abort(404)  # support says why on the page first
    report, problem = _run(connection_id, first, last)
    if report is None:
        abort(502, problem)
    render, mimetype = FORMATS[fmt]
    name = f"koppel-reconciliation-{first.isoformat()}-{last.isoformat()}.{fmt}"
    return Response(render(report, gettext), mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
