"""A merchant shares a connection with their accountant (read and export), or stops sharing.

The accountant's account is made by koppel's administrator; the merchant names it by its
e-mail address. Who has access is listed on the overview, for each connection they manage.
"""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _

from domain.access import Action
from web import access

blueprint = Blueprint("sharing", __name__)


def _accounts():
    return current_app.extensions["koppel"].accounts


def _home():
    return redirect(url_for("dashboard.home"), 303)


@blueprint.post("/connections/<connection_id>/share")
def share(connection_id: str):
    access.require(Action.MANAGE, connection_id)
    email = (request.form.get("email") or "").strip()
    accountant = _accounts().by_email(email)
    if accountant is None or accountant.role != "accountant":
        flash(_("%(email)s has no accountant account; ask koppel's administrator to make one.",
                email=email))
        return _home()
    _accounts().grant(accountant.email, UUID(connection_id), by=access.me().email)
    flash(_("%(email)s sees this connection from now on.", email=accountant.email))
    return _home()


@blueprint.post("/connections/<connection_id>/unshare")
def unshare(connection_id: str):
    access.require(Action.MANAGE, connection_id)
    accountant = _accounts().by_email(request.form.get("email") or "")
    if accountant is not None and accountant.role == "accountant":
        _accounts().revoke(accountant.email, UUID(connection_id), by=access.me().email)
        flash(_("%(email)s no longer sees this connection.", email=accountant.email))
    return _home()
