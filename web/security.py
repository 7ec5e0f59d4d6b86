"""What every answer tells the browser, and how koppel reads the address it was reached at.

The headers are set by one after-request hook rather than Flask-Talisman: Talisman's last
release is from 2023, it would redirect plain http (the demo and the tests run on it) unless
told not to, and it mainly adds nonces and per-view policies koppel does not need, because no
page has inline script or style. What is left is a handful of fixed headers, set here.
"""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

# Scripts, styles, images and fetches from koppel itself only; no inline script or style
# (the dashboard's live refresh is web/static/live.js), no plugins, no framing by other sites,
# forms post to koppel only. The Billit connect flow leaves by a redirect, which CSP allows.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "X-Content-Type-Options": "nosniff",
    # Page addresses carry document numbers and filters: other sites learn the origin only.
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# A year, subdomains too: once a browser saw koppel over https it never falls back to http.
STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"


def secure(app: Flask, *, https: bool, proxy_hops: int) -> None:
    """Headers on every answer, cookies fit for the internet, the scheme and host as the
    client used them when ``proxy_hops`` reverse proxies stand in front."""
    cookies = {"HTTPONLY": True, "SAMESITE": "Lax", "SECURE": https}
    for prefix in ("SESSION_COOKIE_", "REMEMBER_COOKIE_"):  # Flask's and Flask-Login's
        app.config.update({prefix + name: value for name, value in cookies.items()})
    if proxy_hops:
        # Only the last ``proxy_hops`` values of each X-Forwarded-* header are believed: any
        # a client sends itself sits before them and is ignored.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxy_hops, x_proto=proxy_hops,
                                x_host=proxy_hops, x_port=proxy_hops, x_prefix=proxy_hops)

    @app.after_request
    def headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
        return response
