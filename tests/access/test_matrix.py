"""Every route x every role x own/other connection: what must be refused is refused, what must
work works (issue 9). The routes come from the app's url_map, so a new route without a decision
here fails the first test."""

from __future__ import annotations

from uuid import UUID

import pytest

from tests.access.conftest import PASSWORD, give_reason
from tests.harness import csrf_token, sign_in

ROLES = ("anonymous", "merchant A", "merchant B", "accountant of A", "support", "admin")
BOTH = {"A", "B"}
# The truth, written out by hand (not derived from koppel's own rules): which connections
# each role may read (pages, lists, documents), export (JSON lists) and manage (reprocess,
# connect the ledger).
READ = {"anonymous": set(), "merchant A": {"A"}, "merchant B": {"B"},
        "accountant of A": {"A"}, "support": BOTH, "admin": set()}
MANAGE = {"anonymous": set(), "merchant A": {"A"}, "merchant B": {"B"},
          "accountant of A": set(), "support": BOTH, "admin": set()}
ACCOUNTS = {"admin"}

# endpoint -> how it is protected
DECISIONS = {
    "static": "public (koppel's own stylesheet and script)",
    "healthz": "public",
    "auth.sign_in": "public",
    "auth.second_step": "public",
    "auth.forgot": "public",
    "auth.reset_link": "public",
    "auth.reset": "public",
    "auth.sign_out": "signed in",
    "webhooks.receive": "webhook token",
    "metrics": "no sign-in: loopback without a proxy, or KOPPEL_METRICS_TOKEN (web/metrics)",
    "openapi.openapi": "public (the description; the API it describes asks for sign-in)",
    "dashboard.home": "list",
    "dashboard.documents": "list",
    "dashboard.documents_json": "list",
    "dashboard.counts_json": "counts",
    "dashboard.document": "document: read",
    "dashboard.reprocess": "document: manage",
    "dashboard.consult": "connection: read (support says why)",
    "connect.connect": "connection: manage",
    "connect.callback": "connection: manage",
    "sharing.share": "connection: manage",
    "sharing.unshare": "connection: manage",
    "configure.settings_page": "connection: read (an accountant's page is read-only)",
    "configure.save_settings": "connection: manage (support says why)",
    "configure.remove_page": "connection: manage",
    "configure.remove": "connection: manage (support says why)",
    "configure.pause": "connection: manage (support says why)",
    "configure.resume": "connection: manage (support says why)",
    "documents_actions.process_selection": "documents: manage (support says why)",
    "documents_actions.report_problem": "document: manage",
    "search.search": "list",
    "search.by_number": "document: read",
    "export.export_page": "signed in",
    "export.export_file": "list: export",
    "notices.notifications": "signed in (their own account)",
    "people.people": "accounts",
    "people.who_could_see": "accounts",
    "onboarding.connection_page": "connection: manage",
    "onboarding.check": "connection: manage",
    "onboarding.start_date": "connection: manage",
    "onboarding.ledger_token": "connection: manage",
    "onboarding.dry_run": "connection: manage",
    "onboarding.start_import": "connection: manage",
    "onboarding.pause_or_resume": "connection: manage",
    "onboarding.import_progress": "connection: manage",
    "settings_dry_run.draft_page": "connection: export (accountant too)",
    "settings_dry_run.compare": "connection: export (accountant too)",
    "settings_dry_run.job_page": "connection: export; the job of that connection only",
    "settings_dry_run.progress": "connection: export; the job of that connection only",
    "settings_dry_run.correction_list": "connection: export; the job of that connection only",
    "settings_dry_run.apply": "connection: manage, with a reason; the job of that connection "
                              "only (done by the workers)",
    "ledgers.ledgers_page": "connection: manage",
    "ledgers.add": "connection: manage",
    "ledgers.pause_or_resume": "connection: manage",
    "ledgers.hand_over": "connection: manage",
    "ledgers.progress": "connection: manage",
    "appstore.handshake": "App Store signature (tests/e2e/test_app_store.py)",
    "appstore.install": "App Store signature (tests/e2e/test_app_store.py)",
    "appstore.uninstall": "App Store signature (tests/e2e/test_app_store.py)",
    "appstore.account": "an install's signed link, in this session",
    "reconcile.reconcile_page": "connection: export (support says why)",
    "reconcile.reconcile_file": "connection: export (support says why)",
}


def test_every_route_has_a_decision(scene):
    endpoints = {rule.endpoint for rule in scene.h.web.url_map.iter_rules()}
    assert endpoints == set(DECISIONS), (
        f"decide who may use {sorted(endpoints - set(DECISIONS))} in DECISIONS; "
        f"gone: {sorted(set(DECISIONS) - endpoints)}")


def _refused(role: str, response) -> bool:
    """A signed-in person gets 404 (as if it did not exist); nobody signed in is sent to sign
    in (401 for the JSON API)."""
    if role == "anonymous":
        return (response.status_code == 302 and "/sign-in" in response.headers["Location"]) \
            or response.status_code == 401
    return response.status_code == 404


def _form_token(client) -> str:
    return csrf_token(client.get("/sign-in").get_data(as_text=True))


CELLS = [(role, target) for role in ROLES for target in ("A", "B")]


@pytest.mark.parametrize("role, target", CELLS)
def test_document_pages(scene, role, target):
    client, doc = scene.clients[role], scene.documents[target, "failed"]
    response = client.get(f"/documents/{doc}")
    if target in READ[role]:
        assert response.status_code == 200 and doc in response.get_data(as_text=True)
    else:
        assert _refused(role, response), response.status_code


@pytest.mark.parametrize("role, target", CELLS)
def test_reprocess(scene, role, target):
    client, doc = scene.clients[role], scene.documents[target, "stuck"]
    before = len(scene.h.runtime.app.history(UUID(doc)))
    data = {"reason": "customer fixed the VAT number"}
    if role != "anonymous":
        data["csrf_token"] = _form_token(client)
    response = client.post(f"/documents/{doc}/reprocess", data=data)
    events = scene.h.runtime.app.history(UUID(doc))[before:]
    if target in MANAGE[role]:
        assert response.status_code == 303
        assert [(type(e).__name__, e.by) for e in events] == [
            ("ReprocessRequested", client.email)]
    else:
        assert _refused(role, response), response.status_code
        assert events == []


@pytest.mark.parametrize("role, target", CELLS)
def test_stating_a_reason(scene, role, target):
    client, conn = scene.clients[role], scene.connections[target]
    if role == "anonymous":
        response = client.post(f"/connections/{conn}/reason", data={"reason": "curious"})
    else:
        response = give_reason(client, conn, f"{role} checks {target}")
    if target in READ[role]:
        assert response.status_code == 303
    else:
        assert _refused(role, response), response.status_code
    scene.h.runtime.projector.catch_up()
    recorded = scene.h.runtime.store.query(
        "SELECT reason FROM consultations WHERE reason = ?", [f"{role} checks {target}"])
    assert len(recorded) == (1 if role == "support" else 0)  # only support's are recorded


def test_support_says_why_before_seeing_a_merchants_document(scene):
    support = scene.h.web.test_client()
    assert sign_in(support, "support@example.test", PASSWORD).status_code == 302
    doc = scene.documents["A", "posted"]
    asked = support.get(f"/documents/{doc}").get_data(as_text=True)
    assert 'id="reason"' in asked and not any(c in asked for c in scene.customers)
    assert give_reason(support, scene.connections["A"], "").status_code == 303
    assert 'id="reason"' in support.get(f"/documents/{doc}").get_data(as_text=True)
    give_reason(support, scene.connections["A"], "ticket 4711: a missing invoice")
    shown = support.get(f"/documents/{doc}").get_data(as_text=True)
    assert any(c in shown for c in scene.customers)
    scene.h.runtime.projector.catch_up()
    admin = scene.clients["admin"].get(
        f"/people/who-could-see?connection={scene.connections['A']}").get_data(as_text=True)
    assert "ticket 4711: a missing invoice" in admin


@pytest.mark.parametrize("role, target", CELLS)
def test_sharing_with_an_accountant(scene, role, target):
    client, conn = scene.clients[role], scene.connections[target]
    accounts = scene.h.runtime.accounts
    helper = accounts.by_email("helper@example.test") or accounts.add(
        "helper@example.test", "accountant", PASSWORD, by="test")
    data = {"email": "helper@example.test"}
    if role != "anonymous":
        data["csrf_token"] = _form_token(client)
    shared = client.post(f"/connections/{conn}/share", data=data)
    granted = UUID(conn) in accounts.get(helper.id).connections
    unshared = client.post(f"/connections/{conn}/unshare", data=data)
    if target in MANAGE[role]:
        assert shared.status_code == 303 and granted
        assert unshared.status_code == 303
        assert UUID(conn) not in accounts.get(helper.id).connections
    else:
        assert _refused(role, shared) and _refused(role, unshared)
        assert not granted


def test_a_merchant_shares_only_with_an_accountant_account(scene):
    client, conn = scene.clients["merchant A"], scene.connections["A"]
    response = client.post(f"/connections/{conn}/share", follow_redirects=True, data={
        "email": "b@example.test", "csrf_token": _form_token(client)})  # a merchant
    assert "has no accountant account" in response.get_data(as_text=True)
    assert UUID(conn) not in scene.h.runtime.accounts.by_email("b@example.test").connections
    shared = client.post(f"/connections/{conn}/share", follow_redirects=True, data={
        "email": "accountant@example.test", "csrf_token": _form_token(client)})
    scene.h.runtime.projector.catch_up()
    page = client.get("/").get_data(as_text=True)
    assert "sees this connection from now on" in shared.get_data(as_text=True)
    assert "accountant@example.test" in page.split('id="sharing-')[1]


@pytest.mark.parametrize("role, target", CELLS)
def test_connecting_the_ledger(scene, role, target):
    client, conn = scene.clients[role], scene.connections[target]
    start = client.get(f"/connections/{conn}/billit/connect")
    back = client.get(f"/connections/{conn}/billit/callback?code=x&state=forged")
    if target in MANAGE[role]:
        assert start.status_code == 302 and "billit" in start.headers["Location"]
        assert back.status_code == 400  # past the door: the forged state is what is refused
    else:
        assert _refused(role, start) and _refused(role, back), (start.status_code,
                                                                back.status_code)


@pytest.mark.parametrize("role, target", CELLS)
def test_a_connections_own_page_and_actions(scene, role, target):
    """Install and connect (issue 10): the connection's page, its checks, start date, ledger
    credential and history import are for those who may manage it; for anyone else each is
    refused and records nothing."""
    client, conn = scene.clients[role], scene.connections[target]
    app = scene.h.runtime.app
    before = len(app.history(__import__("uuid").UUID(conn)))

    def post(path: str, **data):
        if role != "anonymous":
            data["csrf_token"] = _form_token(client)
        return client.post(f"/connections/{conn}{path}", data=data)

    answers = {
        "page": client.get(f"/connections/{conn}"),
        "check": post("/check"),
        "start date": post("/start-date", start_date="2020-01-01"),
        "ledger": post("/ledger/token", api_token="not-the-key"),
        "dry run": post("/imports/dry-run", **{"from": "2026-01-01", "to": "2026-01-02"}),
        "progress": client.get(f"/api/connections/{conn}/imports/{conn}"),
    }
    if target in MANAGE[role]:
        assert answers["page"].status_code == 200
        assert answers["check"].status_code == 303
        assert answers["start date"].status_code == 303
        assert answers["ledger"].status_code == 422  # past the door: the ledger refused it
        assert answers["dry run"].status_code == 200
        assert answers["progress"].status_code == 404  # no such import
        assert len(app.history(__import__("uuid").UUID(conn))) > before
    else:
        refused = {name: a.status_code for name, a in answers.items() if not _refused(role, a)}
        assert not refused, refused
        assert len(app.history(__import__("uuid").UUID(conn))) == before  # nothing recorded


@pytest.mark.parametrize("role, target", CELLS)
def test_a_connections_further_ledgers(scene, role, target):
    """Further ledgers (issue 13.3): for those who may manage the connection; anyone else is
    refused, and nothing is recorded."""
    client, conn = scene.clients[role], scene.connections[target]
    app = scene.h.runtime.app
    before = len(app.history(UUID(conn)))

    def post(path: str, **data):
        if role != "anonymous":
            data["csrf_token"] = _form_token(client)
        return client.post(f"/connections/{conn}/ledgers{path}", data=data)

    answers = {
        "page": client.get(f"/connections/{conn}/ledgers"),
        # a day that is no date: refused past the door, nothing recorded
        "add": post("", name="Copy", purpose="copy", system="billit", credential="k",
                    party_id="1", **{"from": "maart"}),
        "pause": post(f"/{conn}/pause"),
        "switch": post(f"/{conn}/switch"),
        "progress": client.get(f"/api/connections/{conn}/ledgers/{conn}"),
    }
    if target in MANAGE[role]:
        assert answers["page"].status_code == 200
        assert answers["add"].status_code == 400
        assert answers["pause"].status_code == 404  # no such ledger
        assert answers["switch"].status_code == 404
        assert answers["progress"].status_code == 404
    else:
        refused = {name: a.status_code for name, a in answers.items() if not _refused(role, a)}
        assert not refused, refused
    assert len(app.history(UUID(conn))) == before  # nothing recorded


@pytest.mark.parametrize("role, target", CELLS)
@pytest.mark.parametrize("path", ["/", "/errors", "/report", "/api/errors", "/api/report"])
def test_lists_show_only_what_the_role_may_see(scene, role, target, path):
    response = scene.clients[role].get(path)
    if role == "anonymous":
        assert _refused(role, response)
        return
    if role == "admin" and path == "/":
        assert response.status_code == 302 and response.headers["Location"] == "/people"
        return
    assert response.status_code == 200
    shown = scene.documents[target, "failed"] in response.get_data(as_text=True)
    if path in ("/errors", "/api/errors"):
        assert shown == (target in READ[role])
    else:
        assert not shown  # a failed document is never on Report or the overview


@pytest.mark.parametrize("role", ROLES)
def test_counts(scene, role):
    response = scene.clients[role].get("/api/counts")
    if role == "anonymous":
        assert response.status_code == 401
        return
    posted = {"A": 1, "B": 2}  # the scene's posted documents per connection
    assert response.get_json()["report"] == sum(posted[c] for c in READ[role])


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", ["/people", "/people/who-could-see?connection={A}"])
def test_accounts_pages(scene, role, path):
    response = scene.clients[role].get(path.format(**scene.connections))
    if role in ACCOUNTS:
        assert response.status_code == 200
        assert "merchant@example.test" in response.get_data(as_text=True)
    else:
        assert _refused(role, response), response.status_code


@pytest.mark.parametrize("role", ROLES)
def test_public_pages_and_the_webhook_work_for_everyone(scene, role):
    client = scene.clients[role]
    for path in ("/healthz", "/sign-in", "/password/forgot", "/password/reset",
                 "/static/koppel.css", "/static/live.js"):
        assert client.get(path).status_code in (200, 400), path  # 400: reset without a link
    own = scene.h.webhook_path()
    foreign = own.replace(scene.connections["A"], scene.connections["B"])
    body = {"id": 1, "href": f"{scene.h.shop_url}/api/rest/v1/orders/1"}
    assert client.post(own, json=body).status_code == 202
    assert client.post(foreign, json=body).status_code == 404  # A's token is not B's


@pytest.mark.parametrize("role", ROLES)
def test_metrics_and_the_api_description_keep_their_own_rules(scene, role):
    client = scene.clients[role]
    described = client.get("/api/openapi.json")
    assert described.status_code == 200 and "/api/counts" in described.get_json()["paths"]
    # the test client is on loopback and came through no proxy: Prometheus' case, no sign-in
    scraped = client.get("/metrics")
    assert scraped.status_code == 200 and "koppel_" in scraped.get_data(as_text=True)
    # through a proxy it is refused, and signing in does not change that
    forwarded = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert forwarded.status_code == 404


def _every_route(scene):
    """Each rule with its arguments filled from the scene, once for each method."""
    values = {"doc_id": scene.documents["A", "posted"], "connection_id": scene.connections["A"],
              "token": "x", "event": "orders.created", "page": "report",
              "filename": "koppel.css", "kinds": "orders",
              "number": scene.h.runtime.app.document(UUID(scene.documents["A", "posted"])).number,
              "fmt": "csv", "imp_id": scene.connections["A"], "action": "pause",
              "target_id": scene.connections["A"], "job_id": _finished_dry_run(scene, "A")}
    for rule in scene.h.web.url_map.iter_rules():
        path = rule.build({k: values[k] for k in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, path


def test_an_anonymous_client_gets_no_customer_data_from_any_route(scene):
    anonymous = scene.clients["anonymous"]
    supporter = scene.clients["support"]
    # the same paths do show customers to someone who may see them
    assert any(name in supporter.get(f"/documents/{scene.documents['A', 'posted']}")
               .get_data(as_text=True) for name in scene.customers)
    seen = 0
    for method, path in _every_route(scene):
        for query in ("", "?lang=nl", "?page=errors"):
            response = anonymous.open(path + query, method=method)
            body = response.get_data(as_text=True)
            leaked = [c for c in scene.customers if c in body]
            assert not leaked, f"{method} {path}{query} shows {leaked}"
            seen += 1
    assert seen >= 3 * len(DECISIONS)


def test_a_post_without_the_csrf_token_is_refused(scene):
    doc = scene.documents["A", "failed"]
    response = scene.clients["merchant A"].post(f"/documents/{doc}/reprocess",
                                                data={"reason": "no token"})
    assert response.status_code == 400
    events = [type(e).__name__ for e in scene.h.runtime.app.history(UUID(doc))]
    assert "ReprocessRequested" not in events
    fresh = scene.h.web.test_client()  # nor a sign-in, even with the right password
    response = fresh.post("/sign-in", data={"email": "support@example.test",
                                            "password": "a-long-test-password"})
    assert response.status_code == 400 and fresh.get("/api/counts").status_code == 401


def test_support_must_say_why(scene):
    client, doc = scene.clients["support"], scene.documents["B", "why"]
    response = client.post(f"/documents/{doc}/reprocess",
                           data={"reason": "", "csrf_token": _form_token(client)})
    assert response.status_code == 303
    uuid = __import__("uuid").UUID(doc)
    assert "ReprocessRequested" not in [type(e).__name__ for e in scene.h.runtime.app.history(uuid)]
    client.post(f"/documents/{doc}/reprocess",
                data={"reason": "merchant asked by phone", "csrf_token": _form_token(client)})
    last = scene.h.runtime.app.history(uuid)[-1]
    assert (last.by, last.reason) == ("support@example.test", "merchant asked by phone")


# -- the daily work (issue 10) ----------------------------------------------------------------

@pytest.mark.parametrize("role, target", CELLS)
def test_processing_a_selection(scene, role, target):
    client, doc = scene.clients[role], scene.documents[target, "stuck"]
    before = len(scene.h.runtime.app.history(UUID(doc)))
    data = {"doc": [doc], "reason": "ticked on Errors", "next": "/errors"}
    if role != "anonymous":
        data["csrf_token"] = _form_token(client)
    response = client.post("/documents/process", data=data)
    events = scene.h.runtime.app.history(UUID(doc))[before:]
    if target in MANAGE[role]:
        assert response.status_code == 303
        assert [(type(e).__name__, e.by, e.reason) for e in events] == [
            ("ReprocessRequested", client.email, "ticked on Errors")]
    else:
        assert _refused(role, response), response.status_code
        assert events == []


def test_a_selection_with_one_foreign_document_is_refused_whole(scene):
    client = scene.clients["merchant A"]
    own, foreign = scene.documents["A", "stuck"], scene.documents["B", "stuck"]
    before = len(scene.h.runtime.app.history(UUID(own)))
    response = client.post("/documents/process", data={
        "doc": [own, foreign], "csrf_token": _form_token(client)})
    assert response.status_code == 404
    assert len(scene.h.runtime.app.history(UUID(own))) == before


@pytest.mark.parametrize("role, target", CELLS)
def test_reporting_a_problem(scene, role, target):
    client, doc = scene.clients[role], scene.documents[target, "failed"]
    data = {"note": "please look"}
    if role != "anonymous":
        data["csrf_token"] = _form_token(client)
    response = client.post(f"/documents/{doc}/report-problem", data=data)
    if target in MANAGE[role]:
        assert response.status_code == 303  # (this koppel has no mail: the page says so)
    else:
        assert _refused(role, response), response.status_code


@pytest.mark.parametrize("role", ROLES)
def test_search_and_numbers_show_only_what_the_role_may_see(scene, role):
    client = scene.clients[role]
    docs = {c: scene.documents[c, "failed"] for c in BOTH}
    number = scene.h.runtime.app.document(UUID(docs["A"])).number  # B has the same number
    found = client.get(f"/search?q={number}")
    by_number = client.get(f"/orders/{number}")
    if role == "anonymous":
        assert _refused(role, found) and _refused(role, by_number)
        return
    assert {c for c in BOTH if docs[c] in found.get_data(as_text=True)} == READ[role]
    numbered = scene.h.runtime.store.query(
        "SELECT id, connection_id FROM documents WHERE number = ? AND kind = 'order'", [number])
    names = {scene.connections[c]: c for c in BOTH}
    expected = sorted(r["id"] for r in numbered if names[r["connection_id"]] in READ[role])
    if not expected:
        assert by_number.status_code == 404
    elif len(expected) > 1:  # two documents with this number: a page to choose
        assert by_number.status_code == 200
        assert all(doc in by_number.get_data(as_text=True) for doc in expected)
    else:
        assert by_number.status_code == 302
        assert by_number.headers["Location"].endswith(f"/documents/{expected[0]}")


@pytest.mark.parametrize("role", ROLES)
def test_the_export_holds_only_what_the_role_may_export(scene, role):
    [row] = scene.h.runtime.store.query(
        "SELECT MIN(booking_date) AS first, MAX(booking_date) AS last FROM booked_documents")
    response = scene.clients[role].get(
        f"/export/report.csv?from={row['first']}&to={row['last']}")
    if role == "anonymous":
        assert _refused(role, response)
        return
    text = response.data.decode("utf-8-sig")
    names = {"A": "Demo shop", "B": "Other shop"}
    assert {c for c in BOTH if names[c] in text} == READ[role]


@pytest.mark.parametrize("role", ROLES)
def test_each_person_chooses_their_own_notifications(scene, role):
    response = scene.clients[role].get("/account/notifications")
    if role == "anonymous":
        assert _refused(role, response)
    else:
        assert response.status_code == 200 and 'id="notice-digest"' in response.get_data(
            as_text=True)


# Issue 13.2: the dry run of a settings draft and its correction list are for whoever may
# export (the accountant too); applying the draft for whoever may manage, with a reason.
EXPORT = {"anonymous": set(), "merchant A": {"A"}, "merchant B": {"B"},
          "accountant of A": {"A"}, "support": BOTH, "admin": set()}


def _finished_dry_run(scene, target: str) -> str:
    """A dry run of ``target``'s connection, run to its end as a worker runs it."""
    from datetime import date

    from application.settings import settings_from_dict

    jobs, conn = scene.h.runtime.dry_run_jobs, UUID(scene.connections[target])
    draft = settings_from_dict(scene.h.runtime.app.find_connection(conn).settings)
    job = jobs.start(conn, draft, date(2020, 1, 1), date(2020, 12, 31), by="test")
    while jobs.run(job.id).state == "running":
        pass
    return str(job.id)


@pytest.mark.parametrize("role, target", CELLS)
def test_trying_and_applying_a_settings_draft(scene, role, target):
    import tomli_w

    from application.apply_draft import without_secrets

    client, conn = scene.clients[role], scene.connections[target]
    app = scene.h.runtime.app
    stored = app.find_connection(UUID(conn))
    draft = tomli_w.dumps(without_secrets(stored.settings))
    before = len(app.history(UUID(conn)))
    jobs_before = scene.h.runtime.store.scalar("SELECT COUNT(*) FROM settings_dry_runs")

    def post(path: str, **data):
        data = {"draft": draft, "from": "2020-01-01", "to": "2020-12-31", **data}
        if role != "anonymous":
            data["csrf_token"] = _form_token(client)
        return client.post(f"/connections/{conn}/settings/dry-run{path}", data=data)

    other = "B" if target == "A" else "A"
    job, foreign = _finished_dry_run(scene, target), _finished_dry_run(scene, other)
    answers = {"page": client.get(f"/connections/{conn}/settings/dry-run"),
               "compare": post(""),
               "apply without a reason": post(f"/{job}/apply"),
               "apply": post(f"/{job}/apply", reason=f"{role} tries the matrix"),
               # another connection's dry run at this connection's address is not there
               "apply another's": post(f"/{foreign}/apply", reason=f"{role} tries the matrix")}
    jobs_after = scene.h.runtime.store.scalar("SELECT COUNT(*) FROM settings_dry_runs")
    applications = scene.h.runtime.dry_run_applications
    if target in EXPORT[role]:
        page = answers["page"].get_data(as_text=True)
        assert answers["page"].status_code == 200 and 'id="draft"' in page
        for secret in ("demo-public-key", "demo-shop-secret", "enc:"):
            assert secret not in page  # a draft never shows a credential
        assert answers["compare"].status_code == 303  # to the job's page
        assert f"/connections/{conn}/settings/dry-run/" in answers["compare"].headers["Location"]
        assert jobs_after == jobs_before + 3  # the one compared, and the two applied
    else:
        for name in ("page", "compare"):
            assert _refused(role, answers[name]), (name, answers[name].status_code)
        assert jobs_after == jobs_before + 2  # no job for whoever may not see the connection
    assert _refused(role, answers["apply another's"])
    assert applications.find(UUID(foreign)) is None
    if target in MANAGE[role]:
        assert answers["apply without a reason"].status_code == 400
        assert answers["apply"].status_code == 303  # to the job's page, which follows it
        assert answers["apply"].headers["Location"].endswith(f"/settings/dry-run/{job}")
        application = applications.find(UUID(job))
        assert application.reason == f"{role} tries the matrix"
        assert 'id="applying"' in client.get(answers["apply"].headers["Location"]).get_data(
            as_text=True)
    else:
        for name in ("apply without a reason", "apply"):
            assert _refused(role, answers[name]), (name, answers[name].status_code)
        assert applications.find(UUID(job)) is None  # nothing asked for
        assert len(app.history(UUID(conn))) == before  # nothing recorded


@pytest.mark.parametrize("role, target", CELLS)
def test_a_dry_runs_page_progress_and_list(scene, role, target):
    """Whoever may export the connection reads its dry runs; a dry run of another connection
    is not there, even at the address of a connection this person may see."""
    client, conn = scene.clients[role], scene.connections[target]
    other = "B" if target == "A" else "A"
    own, foreign = _finished_dry_run(scene, target), _finished_dry_run(scene, other)

    def answers(job_id: str) -> dict:
        base = f"/connections/{conn}/settings/dry-run/{job_id}"
        return {"page": client.get(base),
                "progress": client.get(f"/api/connections/{conn}/settings/dry-run/{job_id}"),
                "list": client.get(f"{base}/list.csv")}

    mine = answers(own)
    if target in EXPORT[role]:
        assert mine["page"].status_code == 200
        assert 'id="summary"' in mine["page"].get_data(as_text=True)
        assert mine["progress"].status_code == 200
        assert mine["progress"].get_json()["state"] == "finished"
        assert mine["list"].status_code == 200 and mine["list"].mimetype == "text/csv"
    else:
        for name, answer in mine.items():
            assert _refused(role, answer), (name, answer.status_code)
    for name, answer in {**answers(foreign), **{f"{k} (no id)": v for k, v in
                                                  answers("not-an-id").items()}}.items():
        assert _refused(role, answer), (name, answer.status_code)


# -- the Settings page (issue 10) -------------------------------------------------------------

def _with_token(role: str, client, data: dict) -> dict:
    return data if role == "anonymous" else {**data, "csrf_token": _form_token(client)}


def _support_reason(role: str) -> dict:
    return {"reason": "ticket 4712: the merchant asked"} if role == "support" else {}


def _events(scene, conn: str) -> list:
    return scene.h.runtime.app.history(UUID(conn))


@pytest.mark.parametrize("role, target", CELLS)
def test_the_settings_page(scene, role, target):
    response = scene.clients[role].get(f"/connections/{scene.connections[target]}/settings")
    if target not in READ[role]:
        assert _refused(role, response), response.status_code
        return
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    if target in MANAGE[role]:
        assert 'id="save"' in page and 'id="pause"' in page and 'id="remove-link"' in page
        assert 'id="read-only"' not in page
        assert ('id="save-reason"' in page) == (role == "support")
    else:  # the accountant reads the settings and has nothing to change them with
        assert 'id="read-only"' in page and "disabled" in page
        assert not any(f'id="{button}' in page for button in ("save", "pause", "resume",
                                                               "remove-link"))


@pytest.mark.parametrize("role, target", CELLS)
def test_saving_settings(scene, role, target):
    client, conn = scene.clients[role], scene.connections[target]
    before = len(_events(scene, conn))
    response = client.post(f"/connections/{conn}/settings", data=_with_token(
        role, client, {"shop.timezone": "Mars/Olympus", **_support_reason(role)}))
    if target in MANAGE[role]:  # past the door: the invalid time zone is what is refused
        assert response.status_code == 422
        assert "Mars/Olympus" in response.get_data(as_text=True)
    else:
        assert _refused(role, response), response.status_code
    assert len(_events(scene, conn)) == before


@pytest.mark.parametrize("role, target", CELLS)
def test_the_remove_page_and_removing(scene, role, target):
    client, conn = scene.clients[role], scene.connections[target]
    page = client.get(f"/connections/{conn}/remove")
    before = len(_events(scene, conn))
    # no choice between keeping and erasing the history: refused past the door, not removed
    response = client.post(f"/connections/{conn}/remove", data=_with_token(
        role, client, {"name": "Demo shop", **_support_reason(role)}))
    if target in MANAGE[role]:
        assert page.status_code == 200 and response.status_code == 422
        assert "Choose whether to keep or erase the history." in response.get_data(as_text=True)
    else:
        assert _refused(role, page) and _refused(role, response), (page.status_code,
                                                                   response.status_code)
    assert len(_events(scene, conn)) == before


@pytest.mark.parametrize("role, target", CELLS)
def test_pausing_and_resuming(scene, role, target):
    client, conn = scene.clients[role], scene.connections[target]
    before = len(_events(scene, conn))
    reason = _support_reason(role).get("reason", "stocktaking")
    paused = client.post(f"/connections/{conn}/pause",
                         data=_with_token(role, client, {"reason": reason}))
    was_paused = scene.h.runtime.connections.get(UUID(conn)).paused
    resumed = client.post(f"/connections/{conn}/resume",
                          data=_with_token(role, client, _support_reason(role)))
    events = [(type(e).__name__, e.by) for e in _events(scene, conn)[before:]]
    if target in MANAGE[role]:
        by = client.email + (f" ({reason})" if role == "support" else "")
        assert paused.status_code == 303 and resumed.status_code == 303
        assert was_paused == reason
        assert events == [("Paused", by), ("Resumed", by)]
    else:
        assert _refused(role, paused) and _refused(role, resumed)
        assert was_paused is None and events == []


def test_support_must_say_why_they_change_a_merchants_connection(scene):
    client, conn = scene.clients["support"], scene.connections["B"]
    before = len(_events(scene, conn))
    paused = client.post(f"/connections/{conn}/pause",
                         data={"reason": " ", "csrf_token": _form_token(client)})
    saved = client.post(f"/connections/{conn}/settings",
                        data={"shop.timezone": "Europe/Brussels",
                              "csrf_token": _form_token(client)})
    removed = client.post(f"/connections/{conn}/remove", data={
        "history": "keep", "csrf_token": _form_token(client)})
    assert paused.status_code == 303 and scene.h.runtime.connections.get(UUID(conn)).paused \
        is None
    assert saved.status_code == 422 and 'id="reason-missing"' in saved.get_data(as_text=True)
    assert removed.status_code == 422
    assert "Say why you remove this merchant's connection." in removed.get_data(as_text=True)
    assert len(_events(scene, conn)) == before  # nothing paused, saved or removed


def test_a_settings_post_without_the_csrf_token_is_refused(scene):
    conn = scene.connections["A"]
    response = scene.clients["merchant A"].post(f"/connections/{conn}/pause",
                                                data={"reason": "no token"})
    assert response.status_code == 400
    assert scene.h.runtime.connections.get(UUID(conn)).paused is None


# -- reconciliation (issue 13.1) ---------------------------------------------------------------

@pytest.mark.parametrize("role, target", CELLS)
def test_reconciliation(scene, role, target):
    """Whoever may read a connection may reconcile it and download the result (the merchant,
    their accountant, support after saying why); anyone else is refused before the shop or
    the ledger is asked anything."""
    client, conn = scene.clients[role], scene.connections[target]
    asked = len(scene.h.billit.get("/__sandbox/requests").json())
    if role == "support":
        give_reason(client, conn, f"reconciling {target}")
    page = client.get(f"/connections/{conn}/reconcile")
    file = client.get(f"/connections/{conn}/reconcile.csv?from=2020-01-01&to=2020-12-31")
    if target in READ[role]:
        assert page.status_code == 200 and 'id="reconcile"' in page.get_data(as_text=True)
        assert file.status_code == 200, file.status_code
        assert file.headers["Content-Type"].startswith("text/csv")
    else:
        assert _refused(role, page) and _refused(role, file), (page.status_code,
                                                               file.status_code)
        assert len(scene.h.billit.get("/__sandbox/requests").json()) == asked


def test_support_says_why_before_reconciling(scene):
    support = scene.h.web.test_client()
    assert sign_in(support, "support@example.test", PASSWORD).status_code == 302
    conn = scene.connections["B"]
    page = support.get(f"/connections/{conn}/reconcile?from=2020-01-01&to=2020-01-31")
    assert page.status_code == 200 and 'id="reason"' in page.get_data(as_text=True)
    assert 'id="reconcile"' not in page.get_data(as_text=True)
    assert support.get(f"/connections/{conn}/reconcile.csv").status_code == 404
