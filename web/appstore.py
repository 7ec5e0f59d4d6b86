"""The CCV App Store's three addresses (ccvshop-api.md, section 1b): handshake, install,
uninstall. Each is signed by CCV with koppel's App Secret Key (``KOPPEL_CCV_APP_SECRET``) and
refused without a valid ``x-hash``; without a configured secret they do not exist (404).

They are reached without signing in (CCV's servers and a merchant's browser arriving from the
App Store): the signature is what protects them, and they never show a document. Whoever
arrives with a signed install link makes the koppel account that owns the new connection, or
signs in with the one they have (``/ccv/account``); a signed-in merchant gets the shop at once.
"""

from __future__ import annotations

import json
import logging
from importlib import resources

from uuid import UUID

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user

from application.app_store import InstallError, verify
from application.errors import KoppelError
from application.settings import load_settings_text
from application.users import AccountError
from web import access

log = logging.getLogger(__name__)
blueprint = Blueprint("appstore", __name__)

HANDSHAKE, INSTALL, UNINSTALL = "/ccv/handshake", "/ccv/install", "/ccv/uninstall"
ACCOUNT = "/ccv/account"
PENDING = "ccv_install"  # in the session: the connection just installed, and where to return
RETURN = "ccv_return"  # in the session: the shop's App Store page, linked from koppel's page
# What the account form says (in web.i18n's KNOWN_MESSAGES, so they are shown in Dutch too).
SHORT_PASSWORD = "A password has at least 10 characters."
ACCOUNT_EXISTS = "That e-mail has a koppel account: give its password."


def _runtime():
    return current_app.extensions["koppel"]


def _secret() -> str:
    secret = _runtime().config.ccv_app_secret
    if not secret:
        abort(404)  # this installation is not registered in the App Store
    return secret


def _address(path: str) -> str:
    """The address CCV signs: the one registered in the Developer App Center."""
    return f"{_runtime().config.public_url}{path}"


def _signed_body(path: str) -> dict:
    raw = request.get_data()
    if not verify(_secret(), _address(path), raw, request.headers.get("x-hash", "")):
        log.warning("App Store call to %s refused: its x-hash does not verify", path)
        abort(403)
    try:
        return json.loads(raw)
    except ValueError:
        abort(400)


@blueprint.post(HANDSHAKE)
@access.public
def handshake():
    body = _signed_body(HANDSHAKE)
    try:
        _runtime().app_store.handshake(body)
    except InstallError as error:
        return error.args[0], 400
    return "OK", 200  # CCV's requirement: 200 with OK


@blueprint.get(INSTALL)
@access.public
def install():
    api_public = request.args.get("api_public", "")
    if not verify(_secret(), _address(INSTALL), api_public, request.args.get("x-hash", "")):
        abort(403)
    runtime = _runtime()
    try:
        installation = runtime.app_store.install(api_public, starting_settings,
                                                 by="CCV App Store")
    except InstallError as error:
        return render_template("connected.html", ok=False, name="CCV Shop",
                               message=error.args[0]), 400
    except KoppelError as error:
        return render_template("connected.html", ok=False, name="CCV Shop",
                               message=error.message), 502
    if current_user.is_authenticated and access.me().role == "merchant":
        # a merchant of koppel adding a shop: theirs, like their others
        runtime.accounts.grant(access.me().email, installation.connection_id,
                               by="CCV App Store")
        return redirect(installation.return_url)
    # Whoever holds this signed link installed the app in the shop's back office: they make
    # the koppel account that owns the connection (or sign in with the one they have).
    session[PENDING] = {"connection": str(installation.connection_id),
                        "return_url": installation.return_url}
    return redirect(url_for(".account"))


@blueprint.route(ACCOUNT, methods=["GET", "POST"])
@access.public
def account():
    pending = session.get(PENDING)
    if not pending:
        abort(404)
    problem = None
    if request.method == "POST":
        accounts = _runtime().accounts
        email, password = request.form.get("email", ""), request.form.get("password", "")
        connection_id = UUID(pending["connection"])
        user = accounts.check_password(email, password)  # one they have: add the shop
        if user is not None and user.role == "merchant":
            accounts.grant(user.email, connection_id, by="CCV App Store")
            return _signed_in(accounts, accounts.get(user.id), pending)
        if user is None and accounts.by_email(email) is None:
            try:
                user = accounts.add(email, "merchant", password, by="CCV App Store",
                                    connections=[connection_id])
            except AccountError:
                problem = SHORT_PASSWORD  # the only refusal left: the address is free
            else:
                return _signed_in(accounts, user, pending)
        else:
            problem = ACCOUNT_EXISTS
    return render_template("ccv_account.html", problem=problem), 400 if problem else 200


def _signed_in(accounts, user, pending: dict):
    session.clear()  # a new session for the signed-in person: nothing carried over
    login_user(access.person_of(user, accounts.fingerprint(user)))
    # On to the connection's page (its next step: the ledger), which links back to the shop:
    # a form may not send the browser to another site (CSP form-action 'self').
    session[RETURN] = pending["return_url"]
    return redirect(url_for("onboarding.connection_page",
                            connection_id=pending["connection"]), 303)


@blueprint.post(UNINSTALL)
@access.public
def uninstall():
    _runtime().app_store.uninstall(_signed_body(UNINSTALL))
    return "OK", 200


def starting_settings(name: str, api_root: str, public_key: str, secret: str):
    """A new shop's settings: the demo's (a Dutch shop booking paid orders as e-Boekhouden
    mutations, the standard VAT codes), with the shop's keys and no ledger token yet. The
    merchant connects the ledger next; until then the connection waits, paused."""
    text = resources.files("web").joinpath("demo_settings.toml").read_text()
    text = text.replace('name = "Demo shop"', f"name = {json.dumps(name)}")
    text = text.replace("{api_root}", api_root)
    text = text.replace('public_key = "demo-public-key"', f"public_key = {json.dumps(public_key)}")
    text = text.replace('secret = "demo-shop-secret"', f"secret = {json.dumps(secret)}")
    text = text.replace('api_token = "demo-ledger-token"\n', "")
    return load_settings_text(text)
