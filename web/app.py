"""The Flask app factory: webhooks in, dashboard out, and who may see what in between."""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

from web import (access, appstore, auth, configure, connect, dashboard, documents_actions,
                 errors, export, ledgers, metrics, notices, onboarding, openapi, people,
                 reconcile, search, settings_dry_run, sharing, webhooks)
from web.logging_setup import bind_requests
from web.logs import redact_loggers
from web.security import secure

# A CCV Shop webhook body is a short summary (a few hundred bytes); anything near this is not one.
MAX_BODY_BYTES = 64 * 1024


def create_app(runtime) -> Flask:
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, SECRET_KEY=runtime.config.secret_key)
    secure(app, https=runtime.config.https, proxy_hops=runtime.config.proxy_hops)
    # httpx too: its INFO line names every address it calls, the demo shop's webhooks included
    redact_loggers(app.logger.name, "werkzeug", "httpx")
    bind_requests(app)
    app.extensions["koppel"] = runtime
    access.init_app(app)
    # Every POST carries the form's CSRF token, except the shop's webhooks: the shop has no
    # session to forge, and the token in their address protects them.
    csrf = CSRFProtect(app)
    csrf.exempt(webhooks.blueprint)
    # Likewise CCV's App Store servers: their calls are signed with koppel's App Secret Key.
    csrf.exempt(appstore.handshake)
    csrf.exempt(appstore.uninstall)
    # One limiter per app (tests make many): its storage is this installation's, shared by
    # every web process when it is Redis.
    app.extensions["koppel_limiter"] = Limiter(
        get_remote_address, app=app, storage_uri=runtime.config.ratelimit_storage,
        key_prefix=runtime.config.queue_prefix, default_limits=[])
    app.register_blueprint(webhooks.blueprint)
    app.register_blueprint(auth.blueprint)
    app.register_blueprint(dashboard.blueprint)
    app.register_blueprint(people.blueprint)
    app.register_blueprint(sharing.blueprint)
    app.register_blueprint(connect.blueprint)
    app.register_blueprint(appstore.blueprint)
    app.register_blueprint(onboarding.blueprint)
    app.register_blueprint(settings_dry_run.blueprint)
    app.register_blueprint(ledgers.blueprint)
    for daily_work in (documents_actions, search, export, notices, reconcile):
        app.register_blueprint(daily_work.blueprint)
    app.register_blueprint(openapi.blueprint)
    metrics.install(app, runtime)
    app.register_blueprint(configure.blueprint)
    errors.init_app(app)

    @app.get("/healthz")
    @access.public
    def healthz():
        return {"status": "ok", "position": runtime.projector.position()}

    return app
