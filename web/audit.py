"""A document's whole history, for support and for ``koppel audit`` (I3)."""

from __future__ import annotations

import json
from decimal import Decimal
from uuid import UUID

from domain.ledger_target import target_posting_id


def _plain(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


_BASE_FIELDS = {"originator_id", "originator_version", "timestamp", "originator_topic"}


def _events(app, aggregate_id: UUID) -> list[dict]:
    events = []
    for event in app.history(aggregate_id):
        fields = {k: _plain(v) for k, v in vars(event).items() if k not in _BASE_FIELDS}
        events.append({"event": type(event).__name__, "version": event.originator_version,
                       "time": event.timestamp.isoformat(), "fields": fields})
    return events


def document_history(app, doc_id: UUID) -> dict | None:
    document = app.find_document(doc_id)
    if document is None:
        return None
    events = _events(app, doc_id) + _correction_events(app, document)
    return {"id": str(doc_id), "connection_id": str(document.connection_id),
            "number": document.number, "kind": document.kind,
            "status": document.status, "changed_after_posting": document.changed_after_posting,
            "events": events,
            "further_ledgers": _further_ledgers(app, document)}


def _further_ledgers(app, document) -> list[dict]:
    """The document's postings into the connection's further ledgers (a copy, or the ledger
    it switched to), each with its own claim, lookups and answer."""
    connection = app.find_connection(document.connection_id)
    found = []
    for target_id in getattr(connection, "ledger_targets", ()):
        target = app.repository.get(UUID(target_id))
        posting_id = target_posting_id(target.id, document.id)
        events = _events(app, posting_id)
        if events:
            found.append({"ledger": target.name, "purpose": target.purpose,
                          "id": str(posting_id), "events": events})
    return found


def _correction_events(app, document) -> list[dict]:
    """The correction bookings of a posted document (issue 13.2: a reversal and a new booking
    after a settings change), in its history with who asked and why. They are aggregates of
    their own, one per settings version (``domain.correction``), shown after the document's
    events as ``Correction.<event>``."""
    from domain.correction import correction_id

    connection = app.find_connection(document.connection_id)
    events = []
    for version in range(1, (connection.settings_version if connection else 0) + 1):
        correction = correction_id(document.id, version)
        if correction not in app.repository:
            continue
        for event in app.history(correction):
            fields = {k: _plain(v) for k, v in vars(event).items() if k not in _BASE_FIELDS}
            events.append({"event": f"Correction.{type(event).__name__}",
                           "version": f"v{version}.{event.originator_version}",
                           "time": event.timestamp.isoformat(), "fields": fields})
    return events


def history_text(history: dict) -> str:
    lines = [f"{history['kind']} {history['number']} ({history['id']}): {history['status']}"
             + ("  [changed after posting]" if history["changed_after_posting"] else "")]
    _event_lines(lines, history["events"])
    for ledger in history.get("further_ledgers", ()):
        lines.append(f"\n== into {ledger['ledger']} ({ledger['purpose']}), posting "
                     f"{ledger['id']}")
        _event_lines(lines, ledger["events"])
    return "\n".join(lines)


def _event_lines(lines: list[str], events: list[dict]) -> None:
    for event in events:
        lines.append(f"\n#{event['version']} {event['time']}  {event['event']}")
        for key, value in event["fields"].items():
            rendered = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
            lines.append(f"  {key}: " + rendered.replace("\n", "\n  "))
