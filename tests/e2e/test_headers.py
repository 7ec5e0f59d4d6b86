"""What every answer tells the browser (CSP without inline script, no framing, referrer
policy, no sniffing, HSTS over https) and the scheme as the client used it behind
KOPPEL_PROXY_HOPS proxies, not as a client claims it."""

from __future__ import annotations

import re

import pytest

from web.access import public
from web.app import create_app


@pytest.fixture
def h(sqlite_url, paid_domestic_orders):
    from tests.harness import Harness

    h = Harness(sqlite_url)
    shop_id = h.put_order(paid_domestic_orders(1)[0])["id"]
    h.doc_id = h.runtime.processing.intake(h.connection.id, "order", shop_id, "test")
    h.runtime.processing.process(h.doc_id)
    h.rows()
    yield h
    h.close()


def _policy(response) -> dict[str, str]:
    directives = response.headers["Content-Security-Policy"].split(";")
    return {d.strip().split(" ", 1)[0]: d.strip().split(" ", 1)[1] for d in directives}


def test_every_answer_carries_the_security_headers(h):
    answers = {path: h.client.get(path) for path in (
        "/", "/report", "/errors", "/open", "/payments", "/api/report", "/api/counts",
        f"/documents/{h.doc_id}", "/healthz", "/static/live.js", "/static/koppel.css",
        "/no-such-page")}
    answers["webhook"] = h.send_webhook(4242)
    assert answers["webhook"].status_code == 202 and answers["/no-such-page"].status_code == 404
    for where, response in answers.items():
        assert response.status_code < 500, where
        policy = _policy(response)
        assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'", where
        assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
        assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
        assert "unsafe-eval" not in response.headers["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert "Strict-Transport-Security" not in response.headers  # plain http


def test_no_page_has_inline_script_or_style(h):
    """What the CSP would block: a <script> or <style> with a body, an on* attribute, a
    style attribute, or a javascript: link."""
    pages = {path: h.merchant for path in ("/", "/report", "/errors", f"/documents/{h.doc_id}",
                                            "/?lang=nl")}
    pages.update({path: h.client for path in ("/sign-in", "/password/forgot")})
    for path, client in pages.items():
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None, path
        assert "<style" not in html and " style=" not in html, path
        assert re.search(r"\son[a-z]+\s*=", html) is None and "javascript:" not in html, path
        assert '<script src="/static/live.js" defer></script>' in html


@pytest.mark.parametrize("hops, forwarded, https", [
    (0, {"X-Forwarded-Proto": "https"}, False),  # no proxy configured: a client's claim
    (1, {"X-Forwarded-Proto": "https"}, True),   # the proxy says the client used https
    (1, {"X-Forwarded-Proto": "https, http"}, False),  # the client's own claim came first
    (2, {"X-Forwarded-Proto": "https, http"}, True),   # two proxies: the outer one saw https
])
def test_behind_a_proxy_the_scheme_is_the_clients_and_https_gets_hsts(h, hops, forwarded,
                                                                      https):
    h.runtime.config = h.runtime.config.with_(proxy_hops=hops)
    app = create_app(h.runtime)

    @app.get("/__scheme")
    @public
    def scheme():
        from flask import request

        return {"scheme": request.scheme, "host": request.host}

    # Each proxy appends the host it was asked for.
    headers = {**forwarded, "X-Forwarded-Host": ", ".join(["koppel.example"] * max(hops, 1))}
    response = app.test_client().get("/__scheme", headers=headers)
    assert response.get_json()["scheme"] == ("https" if https else "http")
    assert (response.get_json()["host"] == "koppel.example") == (hops > 0)
    assert ("Strict-Transport-Security" in response.headers) == https
    if https:
        assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_the_web_settings_come_from_the_environment(tmp_path):
    from web.config import ConfigError, from_environment

    config = from_environment({"KOPPEL_WEB_WORKERS": "3", "KOPPEL_WEB_THREADS": "16",
                               "KOPPEL_WEB_TIMEOUT": "20", "KOPPEL_PROXY_HOPS": "1"},
                              var_dir=tmp_path)
    assert (config.web_workers, config.web_threads, config.web_timeout, config.proxy_hops) == (
        3, 16, 20, 1)
    defaults = from_environment({}, var_dir=tmp_path)
    assert (defaults.web_workers, defaults.web_threads, defaults.web_timeout,
            defaults.proxy_hops) == (2, 8, 30, 0)
    for name, value in (("KOPPEL_WEB_WORKERS", "0"), ("KOPPEL_WEB_THREADS", "many"),
                        ("KOPPEL_PROXY_HOPS", "-1")):
        with pytest.raises(ConfigError, match=name):
            from_environment({name: value}, var_dir=tmp_path)
