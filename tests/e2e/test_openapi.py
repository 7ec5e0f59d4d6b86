"""The JSON API's description holds: schemathesis calls every described route in-process
(WSGI) with what the description allows, and checks every answer against it."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest
import schemathesis
from schemathesis.checks import ignored_auth, positive_data_acceptance
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from application.history_import import period_of
from domain.ledger_target import Purpose
from sandbox.appstore import app_hash
from tests.harness import MERCHANT, PUBLIC_URL, Harness, sign_in
from tests.harness import test_settings as settings_with
from web.openapi import description

APP_SECRET = "the-app-secret-key"  # registered in the App Store: /ccv/* check signatures


@pytest.fixture(scope="module")
def installation(tmp_path_factory, paid_domestic_orders_module):
    """An installation with a posted order, a failed one and an open one, so the lists hold
    real rows to check against the description, and a history import whose progress is read."""
    h = Harness(f"sqlite:///{tmp_path_factory.mktemp('api') / 'koppel.sqlite'}",
                config={"ccv_app_secret": APP_SECRET})
    for order in paid_domestic_orders_module:
        doc_id = h.runtime.processing.intake(h.connection.id, "order",
                                             h.put_order(order)["id"], "test")
        h.runtime.processing.process(doc_id)
    h.runtime.projector.catch_up()
    h.import_id = h.runtime.imports.start(
        h.connection.id, period_of(date(2020, 1, 1), date(2020, 1, 31)), by="test").id
    h.target_id = h.runtime.replays.add(  # a copy in a further ledger, whose replay is read
        h.connection.id, "Accountant", settings_with(h.shop_url),
        datetime(2020, 1, 1, tzinfo=timezone.utc), Purpose.COPY, by="test").id
    h.dry_run_id = h.runtime.dry_run_jobs.start(  # a settings dry run, whose progress is read
        h.connection.id, settings_with(h.shop_url), date(2026, 1, 1), date(2026, 12, 31),
        by="test").id
    yield h
    h.close()


@pytest.fixture(scope="module")
def paid_domestic_orders_module():
    from sandbox.generator import generate

    docs = generate(12, 3, failing_share=0.3, unpaid_share=0.2, scopes={"domestic"})
    return [d for d in docs if d["kind"] == "order"][:6]


@pytest.fixture(scope="module")
def api(installation):
    return schemathesis.openapi.from_wsgi("/api/openapi.json", installation.web)


@pytest.fixture(scope="module")
def signed_in(installation):
    """The session cookie of the connection's merchant, signed in through the form, and the
    browser's User-Agent: a session is tied to its browser and address (a moved one is dropped),
    so the sign-in comes like schemathesis' WSGI calls, which carry no remote address."""
    browser = installation.web.test_client()
    browser.environ_base = {"HTTP_USER_AGENT": "koppel-api-test"}
    assert sign_in(browser, *MERCHANT).status_code == 302
    return {"session": browser.get_cookie("session").value}, {"User-Agent": "koppel-api-test"}


def _real_addresses(installation) -> dict:
    """Path parameters that name what is there: the webhook's, the import's, the further
    ledger's and the settings dry run's."""
    return {**dict(zip(("connection_id", "token", "event"),
                       installation.webhook_path().split("/")[2:])),
            "imp_id": str(installation.import_id), "target_id": str(installation.target_id),
            "job_id": str(installation.dry_run_id)}


def _signed(path: str, payload: str) -> str:
    return app_hash(APP_SECRET, f"{PUBLIC_URL}{path}", payload)


def _needs_sign_in(path: str, method: str) -> bool:
    return "security" in description()["paths"][path][method]


# One test per described operation (schemathesis' own pytest loader does not run on pytest 9).
OPERATIONS = [(path, method) for path, methods in description()["paths"].items()
              for method in methods]


def test_a_settings_dry_runs_progress_is_read_as_described(installation, api):
    """The dry run its page polls, read by the connection's merchant, before and after a
    worker ran it: the answers match the description."""
    address = f"/api/connections/{installation.connection.id}/settings/dry-run/" \
              f"{installation.dry_run_id}"
    operation = api["/api/connections/{connection_id}/settings/dry-run/{job_id}"]["get"]
    jobs = installation.runtime.dry_run_jobs
    applications = installation.runtime.dry_run_applications

    def read() -> dict:
        answer = installation.merchant.get(address)
        assert answer.status_code == 200
        operation.Case(path_parameters={"connection_id": str(installation.connection.id),
                                        "job_id": str(installation.dry_run_id)},
                       ).validate_response(answer, excluded_checks=[ignored_auth])
        assert answer.headers["Cache-Control"] == "no-store"
        return answer.get_json()

    for run_it in (False, True):
        if run_it:
            while jobs.run(installation.dry_run_id).state == "running":
                pass
        job = jobs.find(installation.dry_run_id)
        assert read() == {"state": job.state, "position": job.position, "total": job.total,
                          "apply": None}
    assert job.state == "finished" and job.position == job.total > 0
    # Once applying its draft is asked for, and after a worker applied it.
    applications.request(job, by="test", reason="the description", book_corrections=False)
    for run_it in (False, True):
        if run_it:
            while applications.run(job.id, lambda doc_id: None, lambda correction: None
                                   ).state == "running":
                pass
        application = applications.find(job.id)
        assert read()["apply"] == {"state": application.state, "position": application.position,
                                   "total": application.total,
                                   "settings_version": application.settings_version}
    assert application.state == "finished" and application.settings_version


@pytest.mark.parametrize("path, method", OPERATIONS,
                         ids=[f"{m.upper()} {p}" for p, m in OPERATIONS])
def test_every_answer_matches_the_description(installation, api, signed_in, path, method):
    real = _real_addresses(installation)

    @given(case=api[path][method].as_strategy(), at_a_real_address=st.booleans())
    @settings(max_examples=25, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def call(case, at_a_real_address):
        if at_a_real_address and case.path_parameters:  # not only 404s for unknown tokens
            case.path_parameters = {**case.path_parameters,
                                    **{k: v for k, v in real.items()
                                       if k in case.path_parameters and k != "event"}}
        # What no schema can say may get its documented 400: a webhook body's parts must
        # agree (the id with its href, the kind with the event), and a page's `after` must be
        # a cursor koppel made (opaque to clients).
        opaque = path.startswith("/webhooks/") or "after" in (case.query or {})
        headers = None
        if _needs_sign_in(path, method):  # the session the description names, a real one
            case.cookies, headers = signed_in
        answer = case.call_and_validate(
            headers=headers, excluded_checks=[positive_data_acceptance] if opaque else None)
        assert answer.status_code != 401  # signed in where it must be, so the real answers

    call()
    if path.startswith("/webhooks/"):  # and the hint the shop really sends is written down
        example = description()["components"]["schemas"]["WebhookHint"]["examples"][0]
        case = api[path][method].Case(path_parameters={**real, "event": "orders.created"},
                                      body=example, media_type="application/json")
        assert case.call_and_validate().status_code == 202



def test_what_the_app_store_really_sends_gets_its_documented_answer(installation, api):
    """Random bodies never carry a valid x-hash (403 above): here CCV's calls, signed with the
    App Secret Key over the exact bytes sent, checked against the description as well."""
    schemas = description()["components"]["schemas"]
    handshake = json.dumps(schemas["AppStoreHandshake"]["examples"][0])
    answer = installation.client.post(
        "/ccv/handshake", data=handshake, content_type="application/json",
        headers={"x-hash": _signed("/ccv/handshake", handshake)})
    api["/ccv/handshake"]["post"].Case(media_type="application/json").validate_response(answer)
    assert (answer.status_code, answer.get_data(as_text=True)) == (200, "OK")

    blank = json.dumps({**schemas["AppStoreHandshake"]["examples"][0], "api_root": "shop"})
    answer = installation.client.post(
        "/ccv/handshake", data=blank, content_type="application/json",
        headers={"x-hash": _signed("/ccv/handshake", blank)})
    api["/ccv/handshake"]["post"].Case(media_type="application/json").validate_response(answer)
    assert answer.status_code == 400 and "api_root" in answer.get_data(as_text=True)

    unknown = "no-handshake-for-this-key"  # an install link of a shop without a handshake
    answer = installation.client.get("/ccv/install", query_string={
        "api_public": unknown, "language": "nl", "x-hash": _signed("/ccv/install", unknown)})
    api["/ccv/install"]["get"].Case().validate_response(answer)
    assert answer.status_code == 400

    uninstall = json.dumps(schemas["AppStoreUninstall"]["examples"][0])
    answer = installation.client.post(
        "/ccv/uninstall", data=uninstall, content_type="application/json",
        headers={"x-hash": _signed("/ccv/uninstall", uninstall)})
    api["/ccv/uninstall"]["post"].Case(media_type="application/json").validate_response(answer)
    assert (answer.status_code, answer.get_data(as_text=True)) == (200, "OK")


def test_an_imports_progress_is_read_as_described(installation, api):
    """The import the page polls, there, read by its merchant: the answer matches the
    description (that it needs the session is checked above, without one)."""
    answer = installation.merchant.get(
        f"/api/connections/{installation.connection.id}/imports/{installation.import_id}")
    assert answer.status_code == 200
    api["/api/connections/{connection_id}/imports/{imp_id}"]["get"].Case(
        path_parameters={"connection_id": str(installation.connection.id),
                         "imp_id": str(installation.import_id), "target_id": str(installation.target_id)},
    ).validate_response(answer, excluded_checks=[ignored_auth])  # it probes with a Case's auth
    imported = installation.runtime.imports.get(installation.import_id)
    assert answer.get_json() == {"state": imported.state, "position": imported.position,
                                 "total": imported.total}
    assert answer.headers["Cache-Control"] == "no-store"

@pytest.mark.parametrize("path, method", OPERATIONS,
                         ids=[f"{m.upper()} {p}" for p, m in OPERATIONS])
def test_only_what_asks_for_a_session_needs_one(installation, api, path, method):
    """Without a session the described API routes answer their documented 401, the others
    (the shop's webhooks, health, metrics, this description) never do."""
    body = {"body": {"id": 1, "href": "x"}, "media_type": "application/json"}
    case = api[path][method].Case(path_parameters=_real_addresses(installation),
                                  **(body if method == "post" else {}))
    answer = case.call_and_validate()
    assert (answer.status_code == 401) == _needs_sign_in(path, method), answer.status_code
    if answer.status_code == 401:
        assert answer.json() == {"error": "sign in first"}


def test_the_lists_hold_rows_to_check(installation):
    response = installation.merchant.get("/api/report")
    assert response.status_code == 200 and response.get_json()["items"]


def test_every_json_route_is_described(installation):
    """A new JSON route must be described: the pages (HTML) and static files are not."""
    described = set(installation.client.get("/api/openapi.json").get_json()["paths"])
    pages = {"/", "/<any(report, errors, open, payments):page>", "/documents/<doc_id>",
             "/static/<path:filename>", "/connections/<connection_id>/billit/connect",
             "/connections/<connection_id>/billit/callback",
             # signing in, people, sharing and the daily work: HTML pages and their forms
             "/sign-in", "/sign-in/code", "/sign-out", "/password/forgot",
             "/password/reset/<token>", "/password/reset", "/connections/<connection_id>/reason",
             "/documents/<doc_id>/reprocess", "/people", "/people/who-could-see",
             "/connections/<connection_id>/share", "/connections/<connection_id>/unshare",
             "/documents/process", "/documents/<doc_id>/report-problem", "/search",
             "/<any(orders, invoices):kinds>/<path:number>", "/export",
             "/export/report.<any(csv, xlsx):fmt>",  # a file for a spreadsheet, not JSON
             "/connections/<connection_id>/reconcile",  # the reconciliation: a page
             "/connections/<connection_id>/reconcile.<any(csv, xlsx):fmt>",  # and its file
             "/account/notifications",
             # a connection's own page and its forms (the import's progress is JSON: described)
             "/connections/<connection_id>", "/connections/<connection_id>/check",
             "/connections/<connection_id>/start-date",
             "/connections/<connection_id>/ledger/token",
             "/connections/<connection_id>/imports/dry-run",
             "/connections/<connection_id>/imports",
             "/connections/<connection_id>/imports/<imp_id>/<any(pause, resume):action>",
             # the form after an App Store install (its handshake, install and uninstall are
             # CCV's calls: described)
             "/ccv/account",
             # trying a settings change over history: a page, its forms, the dry run's page
             # and its file (the dry run's progress is JSON: described)
             "/connections/<connection_id>/settings/dry-run",
             "/connections/<connection_id>/settings/dry-run/<job_id>/apply",
             "/connections/<connection_id>/settings/dry-run/<job_id>",
             "/connections/<connection_id>/settings/dry-run/<job_id>/list.<any(csv, xlsx):fmt>",
             # the Settings page and its forms: pause, resume, remove
             "/connections/<connection_id>/settings", "/connections/<connection_id>/pause",
             "/connections/<connection_id>/resume", "/connections/<connection_id>/remove",
             # further ledgers: their page and its forms (the replay's progress is described)
             "/connections/<connection_id>/ledgers",
             "/connections/<connection_id>/ledgers/<target_id>/switch",
             "/connections/<connection_id>/ledgers/<target_id>/<any(pause, resume):action>"}
    routes = set()
    for rule in installation.web.url_map.iter_rules():
        path = rule.rule
        if path in pages:
            continue
        if "<any(report, errors, open, payments):page>" in path:
            routes |= {path.replace("<any(report, errors, open, payments):page>", p)
                       for p in ("report", "errors", "open", "payments")}
            continue
        routes.add(path.replace("<", "{").replace(">", "}"))
    assert routes == described


def test_errors_of_the_api_are_json_and_redirects_stay_redirects(installation):
    from web.app import create_app

    app = create_app(installation.runtime)  # its own app: a route is added below
    response = installation.merchant.get("/api/report?from=yesterday")
    assert response.status_code == 400
    assert response.get_json() == {"error": "from must be a date like 2026-03-14"}
    assert installation.merchant.get("/api/nothing").get_json()["error"]
    page = installation.merchant.get("/documents/not-a-uuid")  # a page keeps its HTML error
    assert page.status_code == 404 and page.mimetype == "text/html"

    @app.get("/api/slash/")  # a route with a slash: Werkzeug redirects the path without one
    def _slash():
        return {}

    redirect = app.test_client().get("/api/slash")
    assert redirect.status_code == 308 and redirect.headers["Location"].endswith("/api/slash/")
