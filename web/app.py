"""The Flask app factory: webhooks in, dashboard out."""

from __future__ import annotations

from flask import Flask

from web import connect, dashboard, webhooks
from web.logs import redact_loggers
from web.security import secure

# A CCV Shop webhook body is a short summary (a few hundred bytes); anything near this is not one.
MAX_BODY_BYTES = 64 * 1024


def create_app(runtime) -> Flask:
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, SECRET_KEY=runtime.config.secret_key)
    secure(app, https=runtime.config.https, proxy_hops=runtime.config.proxy_hops)
    redact_loggers(app.logger.name, "werkzeug")
    app.extensions["koppel"] = runtime
    app.register_blueprint(webhooks.blueprint)
    app.register_blueprint(dashboard.blueprint)
    app.register_blueprint(connect.blueprint)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok", "position": runtime.projector.position()}

    return app
