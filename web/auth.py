"""Signing in and out, the second factor, and a forgotten password.

Sign-in attempts are counted per address and per e-mail (Flask-Limiter, on Redis in production
so every web process counts together). The answer to a wrong e-mail and to a wrong password is
the same, and so is the answer to "send me a reset link" whether the account exists or not.
"""

from __future__ import annotations

import logging
import time
from uuid import UUID

from flask import (Blueprint, abort, current_app, flash, redirect, render_template, request, session,
                   url_for)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from flask_login import login_user, logout_user
from limits import parse_many
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from application.users import MIN_PASSWORD, AccountError
from web.access import person_of, public, safe_next
from web.i18n import language
from web.mail import MailError

log = logging.getLogger(__name__)
blueprint = Blueprint("auth", __name__)

# Enough for a person who mistypes; far too few to guess a password.
PER_ADDRESS = "20 per minute; 200 per hour"
PER_ACCOUNT = "5 per minute; 50 per hour"
SECOND_STEP_SECONDS = 300  # between a right password and its code


class SignInForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])


class CodeForm(FlaskForm):
    code = StringField(_l("Code from your authenticator app"),
                       validators=[DataRequired(), Length(6, 8)])


class ForgotForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired()])


class NewPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[
        DataRequired(), Length(min=MIN_PASSWORD, message=_l(
            "A password has at least %(n)s characters.", n=MIN_PASSWORD))])
    repeat = PasswordField(_l("The same password again"), validators=[
        EqualTo("password", message=_l("The two passwords differ."))])


def _runtime():
    return current_app.extensions["koppel"]


def _count_attempt(limit: str, key: str) -> None:
    """Counts one attempt against ``limit`` for ``key``; over it, the request ends with 429.
    The limiter's own storage (memory, or Redis shared by every web process) keeps the count,
    under this installation's prefix."""
    limiter = current_app.extensions["koppel_limiter"]
    for item in parse_many(limit):
        if not limiter.limiter.hit(item, _runtime().config.queue_prefix, request.endpoint, key):
            abort(429)


def _sign_in(user, fingerprint: str, next_url: str | None):
    session.clear()  # a new session for the signed-in person: nothing carried over
    login_user(person_of(user, fingerprint))
    return redirect(safe_next(next_url, url_for("dashboard.home")))


@blueprint.route("/sign-in", methods=["GET", "POST"])
@public
def sign_in():
    form = SignInForm()
    refused = False
    if form.validate_on_submit():
        email = form.email.data.strip().casefold()
        _count_attempt(PER_ADDRESS, f"address:{get_remote_address()}")
        _count_attempt(PER_ACCOUNT, f"account:{email}")
        accounts = _runtime().accounts
        user = accounts.check_password(email, form.password.data)
        if user is not None and user.totp_sealed:
            session["second_step"] = {"id": str(user.id), "at": time.time(),
                                      "next": request.args.get("next")}
            return redirect(url_for("auth.second_step"))
        if user is not None:
            return _sign_in(user, accounts.fingerprint(user), request.args.get("next"))
        refused = True
    status = 401 if refused else 200
    return render_template("sign_in.html", form=form, refused=refused), status


@blueprint.route("/sign-in/code", methods=["GET", "POST"])
@public
def second_step():
    pending = session.get("second_step")
    if not pending or time.time() - pending["at"] > SECOND_STEP_SECONDS:
        session.pop("second_step", None)
        return redirect(url_for("auth.sign_in"))
    form = CodeForm()
    refused = False
    if form.validate_on_submit():
        _count_attempt(PER_ACCOUNT, f"code:{pending['id']}")
        accounts = _runtime().accounts
        user = accounts.get(UUID(pending["id"]))
        if user is not None and accounts.check_code(user, form.code.data):
            return _sign_in(user, accounts.fingerprint(user), pending.get("next"))
        refused = True
    return render_template("second_step.html", form=form, refused=refused), \
        401 if refused else 200


@blueprint.post("/sign-out")
def sign_out():
    logout_user()
    session.clear()
    return redirect(url_for("auth.sign_in"))


# -- a forgotten password ------------------------------------------------------------------

RESET_MAIL = {
    "en": ("Your koppel password",
           "Someone (we hope you) asked to set a new password for koppel.\n\n"
           "Open this link within 30 minutes to choose one; it works once:\n{link}\n\n"
           "If it was not you, ignore this e-mail: your password stays as it is.\n"),
    "nl": ("Je wachtwoord voor koppel",
           "Iemand (hopelijk jij) vroeg om een nieuw wachtwoord voor koppel.\n\n"
           "Open deze link binnen 30 minuten om er een te kiezen; hij werkt één keer:\n{link}\n\n"
           "Was jij het niet? Dan kun je deze e-mail negeren: je wachtwoord blijft hetzelfde.\n"),
}


@blueprint.route("/password/forgot", methods=["GET", "POST"])
@public
def forgot():
    runtime = _runtime()
    form = ForgotForm()
    sent = False
    if form.validate_on_submit():
        email = form.email.data.strip().casefold()
        _count_attempt(PER_ADDRESS, f"address:{get_remote_address()}")
        _count_attempt(PER_ACCOUNT, f"reset:{email}")
        found = runtime.accounts.reset_token(email)
        if found is not None and runtime.config.mail.configured:
            user, token = found
            subject, body = RESET_MAIL[language()]
            link = f"{runtime.config.public_url}{url_for('auth.reset_link', token=token)}"
            try:
                runtime.config.mail.send(user.email, subject, body.format(link=link))
            except MailError as error:
                log.error("password reset: %s", error)  # the address, never the link
        sent = True  # the same answer whether or not the account exists
    return render_template("forgot.html", form=form, sent=sent,
                           mail=runtime.config.mail.configured)


@blueprint.get("/password/reset/<token>")
@public
def reset_link(token: str):
    """The link from the e-mail: the token moves into the session at once, so the page with
    the form has a plain address (nothing to leak through history or a Referer)."""
    session["reset_token"] = token
    return redirect(url_for("auth.reset"))


@blueprint.route("/password/reset", methods=["GET", "POST"])
@public
def reset():
    accounts = _runtime().accounts
    token = session.get("reset_token", "")
    user = accounts.user_for_reset(token) if token else None
    if user is None:
        session.pop("reset_token", None)
        return render_template("reset.html", form=None), 400
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.reset_password(token, form.password.data)
        except AccountError:
            return render_template("reset.html", form=None), 400
        session.clear()
        flash(_("Your new password is set. Sign in with it."))
        return redirect(url_for("auth.sign_in"))
    return render_template("reset.html", form=form, email=user.email)


@blueprint.app_errorhandler(429)
def too_many_attempts(_error):
    return render_template("too_many.html"), 429
