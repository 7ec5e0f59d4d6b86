"""The Configuration page: every setting of settings.md, chosen from the merchant's own ledger
where the ledger has the list, validated as the settings file is (application/configure.py),
and the versions with who changed what and when.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from flask import (Blueprint, abort, current_app, flash, redirect, render_template, request,
                   url_for)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from application import configure, removal
from application.connections import UnknownConnection
from domain.access import Action, reason_required
from domain.settings import Settings
from domain.vat import EU_MEMBERS
from web import access, settings_messages

blueprint = Blueprint("configure", __name__)


def _runtime():
    return current_app.extensions["koppel"]


@dataclass(frozen=True)
class Field:
    """One input: its key (within its table), label, and what it offers."""

    key: str
    label: object
    kind: str = "text"  # text | number | flag | secret | choice | account | vat_code
    choices: tuple = ()
    help: object = ""


SHOP = (
    Field("api_root", _l("Shop address (API root)")),
    Field("public_key", _l("Shop API public key"), "secret"),
    Field("secret", _l("Shop API secret key"), "secret"),
    Field("home_country", _l("Home country"), "choice",
          tuple((country, country) for country in sorted(EU_MEMBERS))),
    Field("timezone", _l("Time zone")),
    Field("process", _l("What is booked"), "choice",
          (("paid_orders", _l("Paid orders")), ("invoices", _l("Invoices")))),
    Field("number_prefix", _l("Prefix before the sales number in the ledger"),
          help=_l("Needed when two shops book into one administration (R2.1).")),
)
LEDGER = (
    Field("system", _l("Accounting system"), "choice",
          (("eboekhouden", "e-Boekhouden"), ("billit", "Billit"))),
    Field("document", _l("Booked as"), "choice",
          (("mutation", _l("Sales entry (mutation)")), ("invoice", _l("Invoice")))),
    Field("api_token", _l("e-Boekhouden API token"), "secret"),
    Field("api_key", _l("Billit API key"), "secret"),
    Field("debtors_account", _l("Debtors account"), "account"),
    Field("payment_term_days", _l("Payment term (days)"), "number"),
    Field("invoice_template", _l("Invoice template"), "template"),
    Field("invoice_number", _l("Invoice number from"), "choice",
          (("ledger", _l("the ledger")), ("shop", _l("the shop")))),
    Field("book_invoice", _l("Also book the invoice as a sales entry"), "flag"),
    Field("post_to_products", _l("Book on the ledger's products"), "flag"),
)
ROUNDING = (
    Field("tolerance", _l("Largest rounding difference booked (EUR)")),
    Field("account", _l("Rounding differences account"), "account"),
)
VAT = (
    Field("rate", _l("Rate (%)")),
    Field("vat_code", _l("VAT code"), "vat_code"),
    Field("revenue_account", _l("Revenue account"), "account"),
    Field("shipping_account", _l("Shipping costs account"), "account",
          help=_l("Empty: the revenue account.")),
    Field("payment_costs_account", _l("Payment costs account"), "account",
          help=_l("Empty: the revenue account.")),
)
ZERO_RATE = (
    Field("vat_code", _l("VAT code"), "vat_code"),
    Field("revenue_account", _l("Revenue account"), "account"),
)
OSS = (
    Field("vat_code", _l("Marker"), "choice", (("VAT_OSS", "VAT_OSS"),)),
    Field("vat_account", _l("Account for the VAT owed in that country"), "account"),
    Field("revenue_account", _l("Revenue account"), "account"),
    Field("oss_revenue_vat_code", _l("VAT code of the revenue line"), "choice",
          (("GEEN", "GEEN"), ("AFST_VERK", "AFST_VERK"))),
)
PAYMENT_METHOD = (
    Field("account", _l("Account where the payment arrives"), "account"),
    Field("fixed_debtor", _l("Fixed debtor (relation code, invoices only)")),
)
PAYMENTS = (
    Field("enabled", _l("Book payments"), "flag"),
    Field("without_open_item", _l("Book a payment without an open item"), "flag"),
)
BILLIT = (
    Field("party_id", _l("Billit party id")),
    Field("payment_status", _l("Mark as paid"), "choice",
          (("shop", _l("as the shop says")), ("always", _l("always")), ("never", _l("never")))),
    Field("currency_enabled", _l("Other currencies than EUR"), "flag"),
)
SECTIONS = (
    ("shop", _l("Shop"), SHOP),
    ("ledger", _l("Ledger"), LEDGER),
    ("rounding", _l("Rounding"), ROUNDING),
    ("payments", _l("Payments"), PAYMENTS),
)
ZERO_RATE_SECTIONS = (("icp", _l("EU business customers (ICP, 0%)")),
                      ("international", _l("Outside the EU (0%)")))


def _connection(connection_id: str, action: Action):
    """The connection, once the signed-in person may do ``action`` on it (else 404)."""
    access.require(action, connection_id)
    try:
        conn_id = UUID(connection_id)
        context = _runtime().connections.get(conn_id)
    except (ValueError, UnknownConnection):
        abort(404)
    return context


def _choices(settings: Settings, context) -> configure.LedgerChoices:
    runtime = _runtime()
    try:
        ledger = runtime.connections.ledger(context)
    except Exception as error:  # no credentials to build a connector with: said on the page
        return configure.LedgerChoices(problem=str(error))
    return configure.ledger_choices(settings, ledger)


def _page(context, form: dict, problems: dict, saved: bool = False, status: int = 200,
          reason_missing: bool = False):
    stored = _runtime().app.find_connection(context.id).settings
    choices = _choices(context.settings, context)
    accounts = [(a["code"], f'{a["code"]} {a["description"]}') for a in choices.accounts]
    billit = context.settings.is_billit
    return render_template(
        "configure.html", connection=context, form=form, problems=problems,
        message=settings_messages.translate, sections=SECTIONS, vat_fields=VAT,
        zero_rate_sections=ZERO_RATE_SECTIONS, zero_rate_fields=ZERO_RATE, oss_fields=OSS,
        payment_method_fields=PAYMENT_METHOD, billit_fields=BILLIT, billit=billit,
        vat_rows=_rows(form, "vat"), oss_rows=_named(form, "oss"),
        method_rows=_named(form, "payment_methods"),
        accounts=accounts, vat_codes=[(code, code) for code in choices.vat_codes],
        templates=[(name, name) for name in choices.templates], choices=choices,
        secrets=configure.secrets_set(stored), saved=saved, reason_missing=reason_missing,
        manage=access.me().may(Action.MANAGE, context.id),
        reason_required=reason_required(access.me().role),
        versions=configure.versions(_runtime().app, context.id)), status


def _rows(form: dict, table: str) -> list[int]:
    rows = configure.rows_of(form, table)
    return [*rows, (max(rows) + 1 if rows else 0)]  # one empty row to add a rate


def _named(form: dict, table: str) -> list[str]:
    return [name for prefix, name in configure.entries_of(form, table)
            if not prefix.endswith(".new")]


@blueprint.get("/connections/<connection_id>/settings")
def settings_page(connection_id: str):
    context = _connection(connection_id, Action.VIEW)  # an accountant reads, not changes
    stored = _runtime().app.find_connection(context.id).settings
    return _page(context, configure.form_fields(stored), {}, saved=request.args.get("saved") == "1")


@blueprint.post("/connections/<connection_id>/settings")
def save_settings(connection_id: str):
    context = _connection(connection_id, Action.MANAGE)
    form = request.form.to_dict()
    form.pop("csrf_token", None)
    reason = _reason(form.pop("reason", ""))
    if reason is None:
        return _page(context, form, {}, status=422, reason_missing=True)
    result, _changed = configure.save_form(_runtime().connections, context.id, form,
                                           by=_who(reason))
    if result.problems:
        return _page(context, form, result.problems, status=422)
    return redirect(url_for("configure.settings_page", connection_id=connection_id, saved=1),
                    303)


@blueprint.get("/connections/<connection_id>/remove")
def remove_page(connection_id: str):
    context = _connection(connection_id, Action.MANAGE)
    return render_template("remove.html", connection=context, problem=None,
                           documents=_document_count(context.id),
                           reason_required=reason_required(access.me().role))


@blueprint.post("/connections/<connection_id>/remove")
def remove(connection_id: str):
    context = _connection(connection_id, Action.MANAGE)
    erase = request.form.get("history") == "erase"
    reason = _reason(request.form.get("reason", ""))
    if reason is None or request.form.get("history") not in ("keep", "erase") or (
            erase and request.form.get("name", "").strip() != context.name):
        problem = _l("Say why you remove this merchant's connection.") if reason is None \
            else _l("Type the connection's name exactly to erase its history.") if erase \
            else _l("Choose whether to keep or erase the history.")
        return render_template("remove.html", connection=context, problem=problem,
                               documents=_document_count(context.id),
                               reason_required=reason_required(access.me().role)), 422
    runtime = _runtime()

    def documents_of(conn_id):
        runtime.projector.catch_up()
        return runtime.store.query("SELECT * FROM documents WHERE connection_id = ?",
                                   [str(conn_id)])

    removal.remove(runtime.connections, documents_of, context.id, by=_who(reason),
                   erase=erase)
    runtime.projector.catch_up()
    return redirect("/", 303)


@blueprint.post("/connections/<connection_id>/pause")
def pause(connection_id: str):
    context = _connection(connection_id, Action.MANAGE)
    reason = _reason(request.form.get("reason", ""))  # a merchant's may be empty
    if reason is None:
        flash(_("Say why you pause this merchant's connection."))
    else:
        _runtime().pausing.pause(context.id, by=_who(reason), reason=reason)
    return redirect(url_for("configure.settings_page", connection_id=connection_id), 303)


@blueprint.post("/connections/<connection_id>/resume")
def resume(connection_id: str):
    context = _connection(connection_id, Action.MANAGE)
    reason = _reason(request.form.get("reason", ""))
    if reason is None:
        flash(_("Say why you resume this merchant's connection."))
    else:
        _runtime().pausing.resume(context.id, by=_who(reason))  # what waited is sent on at once
    return redirect(url_for("configure.settings_page", connection_id=connection_id), 303)


def _document_count(conn_id) -> int:
    return int(_runtime().store.scalar(
        "SELECT COUNT(*) FROM documents WHERE connection_id = ?", [str(conn_id)]) or 0)


def _reason(given: str) -> str | None:
    """The person's reason for a change; None when support gave none (they must say why
    they change a merchant's connection, as for processing a document again)."""
    reason = (given or "").strip()[:500]
    if not reason and reason_required(access.me().role):
        return None
    return reason


def _who(reason: str) -> str:
    """Who a settings version, pause or removal is recorded for: the signed-in person's
    e-mail, support's with their reason (the events keep one ``by``)."""
    me = access.me()
    return f"{me.email} ({reason})" if reason_required(me.role) else me.email
