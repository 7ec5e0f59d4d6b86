"""The accountant's export of a period: Report as CSV or XLSX (``web.export_files``), for the
connections the signed-in person may export (merchants their own, accountants what is shared
with them, support all)."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, current_app, render_template
from flask_babel import gettext

from domain.access import Action
from projections.period_report import period_report
from web import access
from web.export_files import to_csv, to_xlsx
from web.periods import asked_period

blueprint = Blueprint("export", __name__)

FORMATS = {
    "csv": (to_csv, "text/csv; charset=utf-8"),
    "xlsx": (to_xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}
MAX_DAYS = 3 * 366  # one request reads every line of the period


def _period() -> tuple[date, date]:
    return asked_period(MAX_DAYS, gettext(
        "The period ends before it starts, or is longer than three years."))


@blueprint.get("/export")
def export_page():
    today = date.today()
    first = today.replace(day=1)
    return render_template("export.html", default_from=first.isoformat(),
                           default_to=today.isoformat())


@blueprint.get("/export/report.<any(csv, xlsx):fmt>")
def export_file(fmt: str):
    start, end = _period()
    report = period_report(current_app.extensions["koppel"].store, start, end,
                           access.scope(Action.EXPORT))
    render, mimetype = FORMATS[fmt]
    name = f"koppel-report-{start.isoformat()}-{end.isoformat()}.{fmt}"
    return Response(render(report, gettext), mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
