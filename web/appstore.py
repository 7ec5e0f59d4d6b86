"""The CCV App Store's three addresses (ccvshop-api.md, section 1b): handshake, install,
uninstall. Each is signed by CCV with koppel's App Secret Key (``KOPPEL_CCV_APP_SECRET``) and
refused without a valid ``x-hash``; without a configured secret they do not exist (404).

They are reached without signing in (CCV's servers and a merchant's browser arriving from the
App Store): the signature is what protects them, and they never show a document.
"""

from __future__ import annotations

import json
import logging
from importlib import resources

from flask import Blueprint, abort, current_app, redirect, render_template, request

from application.app_store import InstallError, verify
from application.errors import KoppelError
from application.settings import load_settings_text

log = logging.getLogger(__name__)
blueprint = Blueprint("appstore", __name__)

HANDSHAKE, INSTALL, UNINSTALL = "/ccv/handshake", "/ccv/install", "/ccv/uninstall"


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
def handshake():
    body = _signed_body(HANDSHAKE)
    try:
        _runtime().app_store.handshake(body)
    except InstallError as error:
        return error.args[0], 400
    return "OK", 200  # CCV's requirement: 200 with OK


@blueprint.get(INSTALL)
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
    return redirect(installation.return_url)


@blueprint.post(UNINSTALL)
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
