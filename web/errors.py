"""Error pages in the merchant's language: Flask's own are English only.

The webhook endpoint, the JSON API and the CCV App Store's server-to-server calls keep their
plain answers (a shop or a script reads them, not a person)."""

from __future__ import annotations

from flask import Flask, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException, InternalServerError

from web.openapi import JSON_PREFIXES, json_error

TITLES = {
    400: _l("This request cannot be handled"),
    404: _l("Page not found"),
    405: _l("This page cannot be used this way"),
    500: _l("Something went wrong on our side"),
}
EXPLANATIONS = {
    400: _l("A value in the address or the form is not valid; go back and check it."),
    404: _l("This page does not exist, or you may not see it."),
    405: _l("Go back and use the page's own buttons."),
    500: _l("Nothing you entered was lost. Try again in a moment; if it keeps happening, "
            "tell support."),
}


# The App Store's handshake and uninstall are CCV's servers calling (web/appstore.py); its
# install address is the merchant's browser.
MACHINE_PATHS = ("/webhooks/", "/api/", "/healthz", "/ccv/handshake", "/ccv/uninstall")


def _for_a_machine() -> bool:
    return request.path.startswith(MACHINE_PATHS)


def _page(error: HTTPException):
    # These handlers are by code, so Flask asks them before the API's handler for every
    # HTTPException: the API's answers stay JSON here too.
    if request.path.startswith(JSON_PREFIXES):
        return json_error(error)
    if _for_a_machine() or error.code not in TITLES:
        return error
    # A refusal that says why (``abort(400, reason)``, in the page's language) keeps its reason.
    own = error.description if error.description != type(error).description else None
    return render_template("error.html", title=TITLES[error.code],
                           explanation=own or EXPLANATIONS[error.code]), error.code


def init_app(app: Flask) -> None:
    for code in TITLES:
        app.register_error_handler(code, _page)
    app.register_error_handler(InternalServerError, _page)
