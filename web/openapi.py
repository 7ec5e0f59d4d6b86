"""The JSON API described (``web/openapi.json``, OpenAPI 3.1, written by hand next to the
routes it describes) and served at /api/openapi.json; its errors answer in JSON too.

The description is kept honest by tests/e2e/test_openapi.py: schemathesis calls every route
with what the description allows and checks each answer against it, and every JSON route of
the app must be described.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from flask import Blueprint, jsonify, request
from werkzeug.exceptions import HTTPException

from web.access import public

blueprint = Blueprint("openapi", __name__)

# Where a client expects JSON, an error is JSON as well (the pages keep their HTML errors).
JSON_PREFIXES = ("/api/", "/webhooks/", "/healthz", "/metrics")


@cache
def description() -> dict:
    return json.loads(resources.files("web").joinpath("openapi.json").read_text("utf-8"))


@blueprint.get("/api/openapi.json")
@public  # the description holds no data; the routes it describes ask for sign-in themselves
def openapi():
    return jsonify(description())


@blueprint.app_errorhandler(HTTPException)
def json_error(error: HTTPException):
    if not request.path.startswith(JSON_PREFIXES):
        return error
    response = jsonify({"error": error.description or error.name})
    response.status_code = error.code or 500
    return response
