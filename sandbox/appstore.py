"""The CCV App Store's part, played by the sandbox shop (ccvshop-api.md, section 1b).

The shop's API gains ``GET /apps`` (exactly one item for the keys) and ``PATCH /apps/{id}``
(``is_installed``). The control API plays the merchant pressing "Install" and "Uninstall":

- ``POST /__sandbox/appstore/install`` ``{"handshake_url", "install_url", "app_secret"}``:
  POSTs the handshake (the shop's keys, its root and a return address) to the app, signed
  with ``x-hash`` = HMAC-SHA512 of ``"<handshake URL>|<raw body>"`` under the App Secret Key,
  and answers the address the merchant's browser is sent to:
  ``<install URL>?api_public=...&language=nl&x-hash=<HMAC of "<install URL>|<api_public>">``.
- ``POST /__sandbox/appstore/uninstall`` ``{"uninstall_url", "app_secret"}``: POSTs
  ``{"api_public": ...}`` to the app, signed like the handshake.
- ``GET /appstore``: the App Store's page with Install and Uninstall buttons, for a person in
  a browser, using the app registered with ``POST /__sandbox/appstore/app`` (the same four
  fields).

The return address is a page of this fake, so a browser test ends somewhere real.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import urlencode

import httpx
from flask import Flask, Response, jsonify, redirect, request

RETURN_PATH = "/onderhoud/AdminItems/AppStore/AppStore.Return.php"
APP_ID = 12970


def app_hash(app_secret: str, url: str, payload: bytes | str) -> str:
    """CCV's App Store signature: lower-case hex HMAC-SHA512 of ``url|payload``."""
    raw = payload if isinstance(payload, bytes) else payload.encode("utf-8")
    return hmac.new(app_secret.encode("utf-8"), url.encode("utf-8") + b"|" + raw,
                    hashlib.sha512).hexdigest()


def add_app_store(app: Flask, *, api: str, public_key: str, secret: str, root,
                  client_of) -> None:
    """``root()``: the shop's root; ``client_of()``: the HTTP client that reaches the app
    (the one that delivers webhooks)."""
    state = {"is_installed": False, "calls": []}

    def render() -> dict:
        return {"href": f"{root()}{api}/apps/{APP_ID}/", "id": APP_ID,
                "name": "koppel", "is_installed": state["is_installed"]}

    @app.get(f"{api}/apps/", strict_slashes=False)
    def list_apps():
        return _json({"href": f"{root()}{api}/apps/", "count": 1, "items": [render()]})

    @app.patch(f"{api}/apps/<int:app_id>/", strict_slashes=False)
    def patch_app(app_id: int):
        if app_id != APP_ID:
            return _json({"status": 404, "code": "404.10",
                          "developermessage": f"App {app_id} not found"}, 404)
        body = request.get_json(silent=True) or {}
        if not isinstance(body.get("is_installed"), bool):
            return _json({"status": 400, "code": "400",
                          "developermessage": "is_installed must be true or false"}, 400)
        state["is_installed"] = body["is_installed"]
        return _json(render())

    @app.post("/__sandbox/appstore/app")
    def register_app():
        """The app's registration in the Developer App Center: its three addresses and its
        App Secret Key (what the App Store page's buttons use)."""
        state["app"] = request.get_json(force=True)
        return jsonify(state["app"])

    @app.get("/appstore")
    def store_page():
        registered = "app" in state
        buttons = ('<form method=post action=/appstore/install><button id=install>Install '
                   'koppel</button></form><form method=post action=/appstore/uninstall>'
                   '<button id=uninstall>Uninstall koppel</button></form>') if registered \
            else "<p>No app is registered (POST /__sandbox/appstore/app).</p>"
        return Response(f"<!doctype html><meta name=viewport content='width=device-width'>"
                        f"<title>CCV App Store (sandbox)</title><h1>App Store</h1>"
                        f"<p id=app-state>koppel is "
                        f"{'installed' if state['is_installed'] else 'not installed'}</p>"
                        f"{buttons}", mimetype="text/html")

    @app.post("/appstore/install")
    def press_install():
        answer = install_with(state["app"])
        return redirect(answer["redirect"], 302)

    @app.post("/appstore/uninstall")
    def press_uninstall():
        uninstall_with(state["app"])
        return redirect("/appstore", 303)

    @app.post("/__sandbox/appstore/install")
    def install():
        return jsonify(install_with(request.get_json(force=True)))

    def install_with(body: dict) -> dict:
        handshake = json.dumps({
            "api_public": public_key, "api_secret": secret, "api_root": root(),
            "return_url": f"{root()}{RETURN_PATH}?Id={APP_ID}"}).encode()
        answer = _post(client_of(), body["handshake_url"], handshake, body["app_secret"])
        state["calls"].append(("handshake", answer))
        query = urlencode({"api_public": public_key, "language": body.get("language", "nl"),
                           "x-hash": app_hash(body["app_secret"], body["install_url"],
                                              public_key)})
        return {"handshake_status": answer, "redirect": f"{body['install_url']}?{query}"}

    @app.post("/__sandbox/appstore/uninstall")
    def uninstall():
        return jsonify(uninstall_with(request.get_json(force=True)))

    def uninstall_with(body: dict) -> dict:
        raw = json.dumps({"api_public": public_key}).encode()
        answer = _post(client_of(), body["uninstall_url"], raw, body["app_secret"])
        state["calls"].append(("uninstall", answer))
        if answer == 200:
            state["is_installed"] = False
        return {"uninstall_status": answer}

    @app.get("/__sandbox/appstore")
    def appstore_state():
        return jsonify({"is_installed": state["is_installed"], "calls": state["calls"]})

    @app.get(RETURN_PATH)
    def returned():
        installed = "installed" if state["is_installed"] else "not installed"
        return Response(f"<!doctype html><title>CCV Shop</title><h1>App Store</h1>"
                        f"<p id=app-state>koppel is {installed}</p>", mimetype="text/html")


def _post(client: httpx.Client, url: str, raw: bytes, app_secret: str) -> int | str:
    headers = {"content-type": "application/json", "x-hash": app_hash(app_secret, url, raw)}
    try:
        return client.post(url, content=raw, headers=headers).status_code
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"


def _json(obj, status: int = 200) -> Response:
    return Response(json.dumps(obj), status=status, mimetype="application/json")
