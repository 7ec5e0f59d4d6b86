"""Each person chooses which e-mail notices they get (``workers.notifications`` sends them):
the daily digest of new Errors, and at once when a connection needs reconnecting."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from web import access
from domain.users import NOTICES

blueprint = Blueprint("notices", __name__)


def _runtime():
    return current_app.extensions["koppel"]


@blueprint.route("/account/notifications", methods=["GET", "POST"])
def notifications():
    me = access.me()
    if request.method == "POST":
        wanted = {notice: request.form.get(notice) == "on" for notice in NOTICES}
        _runtime().accounts.choose_notifications(me.user_id, by=me.email, **wanted)
        flash(_("Your choice is saved."))
        return redirect(url_for("notices.notifications"), 303)
    user = _runtime().accounts.get(me.user_id)
    return render_template("notices.html", wanted=user.wanted_notices(),
                           mail_set_up=_runtime().config.mail.configured)
