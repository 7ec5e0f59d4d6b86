"""The Configuration page's service: settings from a form, the ledger's choices, the versions.

A form is turned into the same TOML-shaped mapping the settings file gives, and validated by
``application.settings.settings_from_dict``: the page and ``koppel connections import`` share
one validation, so they can never disagree, and each problem comes back under its key path
(``vat[1].rate``), which is also the form field's name, so the page shows it beside the field.

Secrets are never handed to a page: a form leaves a secret's field empty to keep what is
stored (sealed), or fills it to replace it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from marshmallow import fields as mm_fields

from application import settings as settings_file
from application.app import Koppel
from application.connections import ConnectionDirectory, _get_path
from application.errors import KoppelError
from application.settings import SettingsError
from domain.connection import Connection
from domain.eboekhouden import SALE_VAT_CODES
from domain.settings import Settings

# Tables whose entries are named by the merchant (``oss.DE``, ``payment_methods.ideal``).
NAMED_TABLES = {"oss": settings_file.OssSchema,
                "payment_methods": settings_file.PaymentMethodSchema}
SINGLE_TABLES = {"shop": settings_file.ShopSchema, "ledger": settings_file.LedgerSchema,
                 "rounding": settings_file.RoundingSchema, "icp": settings_file.ZeroRateSchema,
                 "international": settings_file.ZeroRateSchema,
                 "payments": settings_file.PaymentsSchema, "billit": settings_file.BillitSchema}
OPTIONAL_TABLES = ("icp", "international", "billit")  # absent unless a field of it is filled
REMOVE = "remove"  # a checkbox beside a list or named entry: leave it out


@dataclass(frozen=True)
class FormResult:
    """``settings`` when valid; else ``problems`` by key path ("" for the whole form)."""

    data: dict
    settings: Settings | None = None
    problems: dict[str, list[str]] = field(default_factory=dict)


def _keys(schema) -> list[str]:
    return list(schema().fields)


def _kind(schema, key: str) -> str:
    declared = schema().fields.get(key)
    if isinstance(declared, mm_fields.Boolean):
        return "flag"
    if isinstance(declared, mm_fields.Integer):
        return "integer"
    return "text"


def _value(raw: str | None, kind: str):
    """A form's text as the TOML value it stands for; what cannot be converted is passed on
    as typed, so the schema names the problem with the file import's own words."""
    if kind == "flag":
        return raw in ("on", "true", "1")  # an unticked box is not sent at all
    if raw is None:
        return None
    raw = raw.strip()
    if raw == "":
        return None
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            return raw
    return raw


def _table(schema, form: Mapping[str, str], prefix: str, stored: dict | None) -> dict:
    out: dict = {}
    for key in _keys(schema):
        name = f"{prefix}.{key}"
        if f"{prefix}.{key}" in settings_file.SECRET_FIELDS:
            typed = (form.get(name) or "").strip()
            kept = (stored or {}).get(key) or ""
            if typed or kept:
                out[key] = typed or kept  # empty: keep the sealed secret as it is
            continue
        kind = _kind(schema, key)
        if kind != "flag" and name not in form:
            continue
        if kind == "flag" and f"{name}.shown" not in form:
            continue  # a form that did not show the box leaves the setting as it was
        value = _value(form.get(name), kind)
        if value is not None:
            out[key] = value
    return out


def rows_of(form: Mapping[str, str], prefix: str) -> list[int]:
    """The entries of a list (``vat[0].rate``, ``vat[3].rate``...) the form holds, in order."""
    found = set()
    for name in form:
        if name.startswith(prefix + "[") and "]" in name:
            index = name[len(prefix) + 1:name.index("]")]
            if index.isdigit():
                found.add(int(index))
    return sorted(found)


def entries_of(form: Mapping[str, str], table: str) -> list[tuple[str, str]]:
    """(form prefix, entry name) of a named table's entries: ``oss.DE`` and new ones typed
    into ``oss.new.name``."""
    names: dict[str, str] = {}
    for name in form:
        if name.startswith(table + ".") and name.count(".") >= 2:
            entry = name[len(table) + 1:].rsplit(".", 1)[0]
            if entry != "new":
                names[f"{table}.{entry}"] = entry
    new = (form.get(f"{table}.new.name") or "").strip()
    items = sorted(names.items())
    if new:
        items.append((f"{table}.new", new))
    return items


def form_to_data(form: Mapping[str, str], stored: dict) -> dict:
    """A posted form -> the settings mapping, as a TOML file would give it. The connection's
    name is its identity (the id is made from it) and is never taken from a form."""
    data: dict = {"name": stored["name"]}
    for table, schema in SINGLE_TABLES.items():
        entry = _table(schema, form, table, stored.get(table))
        shown = any(name.startswith(table + ".") for name in form)
        if table in OPTIONAL_TABLES:
            if entry and form.get(f"{table}.{REMOVE}") != "on":
                data[table] = entry
            elif not shown and table in stored:
                data[table] = stored[table]
        elif shown:
            data[table] = entry
        elif table in stored:
            data[table] = stored[table]
    data["vat"] = []
    for index in rows_of(form, "vat"):
        prefix = f"vat[{index}]"
        entry = _table(settings_file.VatSchema, form, prefix, None)
        if entry and form.get(f"{prefix}.{REMOVE}") != "on":
            data["vat"].append(entry)
    for table, schema in NAMED_TABLES.items():
        data[table] = {}
        for prefix, name in entries_of(form, table):
            entry = _table(schema, form, prefix, None)
            if form.get(f"{prefix}.{REMOVE}") == "on" or (prefix.endswith(".new") and not
                                                             any(entry.values())):
                continue
            data[table][name] = entry
    return data


def _by_path(problems: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for problem in problems:
        path, sep, message = problem.partition(": ")
        if not sep:
            path, message = "", problem
        found.setdefault(path, []).append(message)
    return found


def _kept_rows(form: Mapping[str, str]) -> list[int]:
    """The form's ``vat[i]`` rows that ``form_to_data`` keeps, in the order it keeps them."""
    return [index for index in rows_of(form, "vat")
            if _table(settings_file.VatSchema, form, f"vat[{index}]", None)
            and form.get(f"vat[{index}].{REMOVE}") != "on"]


def _form_path(path: str, rows: list[int]) -> str:
    """``vat[1].rate`` of the settings is the form's ``vat[2].rate`` when a row before it was
    removed: a problem goes beside the field the merchant typed in."""
    found = re.match(r"vat\[(\d+)\]", path)
    if not found or int(found.group(1)) >= len(rows):
        return path
    return f"vat[{rows[int(found.group(1))]}]" + path[found.end():]


def validate_form(form: Mapping[str, str], stored: dict) -> FormResult:
    data = form_to_data(form, stored)
    try:
        return FormResult(data, settings_file.settings_from_dict(data))
    except SettingsError as error:
        rows = _kept_rows(form)
        problems: dict[str, list[str]] = {}
        for path, messages in _by_path(error.problems).items():
            problems.setdefault(_form_path(path, rows), []).extend(messages)
        return FormResult(data, problems=problems)


def form_fields(stored: dict) -> dict[str, str]:
    """The form a page shows for stored settings (what an unchanged submit posts back):
    every value by its key path, secrets empty (kept unless replaced), ticked boxes "on"."""
    form: dict[str, str] = {}
    for path, value in _flat({k: v for k, v in stored.items() if k != "name"}).items():
        if path in settings_file.SECRET_FIELDS:
            form[path] = ""
        elif isinstance(value, bool):
            form[f"{path}.shown"] = "1"
            if value:
                form[path] = "on"
        else:
            form[path] = as_text(value)
    return form


def save_form(directory: ConnectionDirectory, conn_id, form: Mapping[str, str],
              by: str) -> tuple[FormResult, bool]:
    """Validate the form against the stored settings and, when valid, record a new settings
    version (none when nothing changed). Nothing is half-applied."""
    stored = directory.app.find_connection(conn_id).settings
    result = validate_form(form, stored)
    if result.settings is None:
        return result, False
    _, changed = directory.save(result.settings, by=by)
    return result, changed


# -- what the ledger offers --------------------------------------------------------------

@dataclass(frozen=True)
class LedgerChoices:
    """The accounts of the merchant's ledger and the VAT codes it accepts. ``problem``: the
    ledger could not be asked (the page then offers the current values only)."""

    accounts: tuple[dict, ...] = ()
    vat_codes: tuple[str, ...] = ()
    templates: tuple[str, ...] = ()
    problem: str | None = None
    problem_nl: str | None = None


def ledger_choices(settings: Settings, ledger) -> LedgerChoices:
    """e-Boekhouden: its ledger accounts (``GET /v1/ledger``) and its fixed list of sale VAT
    codes (it has no endpoint for them). Billit takes VAT percentages and has no accounts to
    choose, so there is nothing to offer."""
    if settings.is_billit:
        return LedgerChoices()
    try:
        accounts = tuple(sorted(ledger.ledger_accounts(), key=lambda a: str(a.get("code"))))
        templates = tuple(ledger.invoice_templates())
    except (KoppelError, KeyError, OSError) as error:
        message_nl = getattr(error, "message_nl", None)
        return LedgerChoices(vat_codes=tuple(SALE_VAT_CODES), problem=str(error),
                             problem_nl=message_nl)
    return LedgerChoices(accounts, tuple(SALE_VAT_CODES), templates)


# -- the versions ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    path: str
    before: object
    after: object
    secret: bool = False


@dataclass(frozen=True)
class Version:
    number: int
    at: str
    by: str
    changes: tuple[Change, ...]


def _flat(value, path: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, inner in value.items():
            out.update(_flat(inner, f"{path}.{key}" if path else str(key)))
        return out
    if isinstance(value, list):
        out = {}
        for index, inner in enumerate(value):
            out.update(_flat(inner, f"{path}[{index}]"))
        return out
    return {path: value}


def diff(before: dict, after: dict) -> tuple[Change, ...]:
    """What changed between two stored settings; a secret says only that it changed."""
    old, new = _flat(before), _flat(after)
    changes = []
    for path in sorted(set(old) | set(new)):
        if old.get(path) == new.get(path):
            continue
        if path in settings_file.SECRET_FIELDS:
            changes.append(Change(path, bool(old.get(path)), bool(new.get(path)), secret=True))
        else:
            changes.append(Change(path, old.get(path), new.get(path)))
    return tuple(changes)


def versions(app: Koppel, conn_id) -> list[Version]:
    """Every settings version of a connection, newest first, with who made it and when."""
    found: list[Version] = []
    previous: dict = {}
    number = 0
    for event in app.history(conn_id):
        if isinstance(event, Connection.Created):
            settings, by = event.settings, ""
        elif isinstance(event, Connection.SettingsChanged):
            settings, by = event.settings, event.by
        else:
            continue
        number += 1
        found.append(Version(number, event.timestamp.isoformat(), by,
                             diff(previous, settings)))
        previous = settings
    return list(reversed(found))


def secrets_set(stored: dict) -> dict[str, bool]:
    """Which secrets are set, never what they are."""
    return {path: bool(_get_path(stored, path)) for path in settings_file.SECRET_FIELDS}


def as_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return str(value)
    return "" if value is None else str(value)
