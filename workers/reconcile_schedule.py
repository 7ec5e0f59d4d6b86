"""The monthly reconciliation (issue 13.1): once a month ended, each connection's month is
reconciled once, and whoever gets koppel's problem mails about that connection (the ones who
chose the Errors digest) hears of it when something differs.

The scheduler asks daily; what ran is kept here, so a restart reconciles nothing twice and a
month whose shop or ledger could not be reached is tried again the next day. A month is taken
a few days after it ended: an order of its last evening may still wait for its payment.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from typing import Callable
from uuid import UUID

from application.errors import KoppelError
from application.reconciliation import Reconciliations, Report
from domain.reconciliation import Change, Kind
from projections import queries
from projections.store import ReadStore
from workers.notifications import Notifier

log = logging.getLogger(__name__)

TABLE = """
    CREATE TABLE IF NOT EXISTS reconciliation_runs (
        connection_id TEXT NOT NULL,
        month TEXT NOT NULL,
        ran_at TEXT NOT NULL,
        differences INTEGER NOT NULL,
        PRIMARY KEY (connection_id, month)
    )"""
SETTLE_DAYS = 3   # the month is reconciled from this day of the next month on
MAIL_LIMIT = 50   # differences listed in one mail; the link shows them all

KINDS = {  # (Dutch, English): the mail goes to people of either language, like the others
    Kind.NOT_BOOKED: ("in de winkel, niet geboekt", "in the shop, not booked"),
    Kind.MISSING_IN_LEDGER: ("geboekt door koppel, ontbreekt in de boekhouding (verwijderd)",
                             "booked by koppel, missing in the ledger (deleted)"),
    Kind.DIFFERENT_IN_LEDGER: ("geboekt door koppel, anders in de boekhouding (gewijzigd)",
                               "booked by koppel, different in the ledger (edited)"),
    Kind.NOT_FROM_KOPPEL: ("in de boekhouding onder koppels nummering, niet van koppel",
                           "in the ledger under koppel's numbering, not from koppel"),
}
CHANGES = {Change.AMOUNTS: ("bedragen", "amounts"),
           Change.ACCOUNTS: ("grootboekrekeningen", "ledger accounts"),
           Change.VAT_CODES: ("btw-codes", "VAT codes"), Change.DATE: ("datum", "date")}


def month_before(today: date) -> tuple[date, date]:
    last = today.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


class MonthlyReconciliation:
    def __init__(self, store: ReadStore, reconciliations: Reconciliations,
                 notifier: Notifier | None, public_url: str,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.store, self.reconciliations, self.notifier = store, reconciliations, notifier
        self.public_url = public_url.rstrip("/")
        self.clock = clock
        with store.transaction() as cur:
            cur.execute(TABLE)

    def run_once(self) -> dict:
        today = self.clock().date()
        if today.day < SETTLE_DAYS:
            return {"waiting": True}
        first, last = month_before(today)
        month = first.isoformat()[:7]
        done = {"reconciled": 0, "differing": 0, "mailed": 0, "failed": 0}
        for row in queries.connections(self.store):
            if self.store.scalar("SELECT 1 FROM reconciliation_runs WHERE connection_id = ? "
                                 "AND month = ?", [row["id"], month]):
                continue
            try:
                report = self.reconciliations.run(UUID(row["id"]), first, last)
            except KoppelError as error:  # unreachable today: tried again tomorrow
                done["failed"] += 1
                log.warning("reconciliation of %s for %s failed: %s", row["name"], month,
                            error.message)
                continue
            done["reconciled"] += 1
            if report.differs:
                done["differing"] += 1
                done["mailed"] += self._mail(row["id"], month, report)
            with self.store.transaction() as cur:
                cur.execute("INSERT INTO reconciliation_runs (connection_id, month, ran_at, "
                            "differences) VALUES (?, ?, ?, ?)",
                            [row["id"], month, self.clock().isoformat(),
                             len(report.result.differences)])
        return done

    def _mail(self, connection_id: str, month: str, report: Report) -> int:
        if self.notifier is None:
            return 0
        subject, body = reconciliation_mail(report, self.public_url)
        sent = 0
        for person in self.notifier.people("digest"):
            if person.sees(connection_id) and self.notifier.deliver(
                    person, f"reconcile:{connection_id}:{month}", subject, body):
                sent += 1
        return sent


def reconciliation_mail(report: Report, public_url: str) -> tuple[str, str]:
    differences = report.result.differences
    count, month = len(differences), report.first.isoformat()[:7]
    subject = (f"koppel: {report.connection} {month}: {count} verschil(len) / "
               f"difference(s) between shop, koppel and ledger")
    lines = [f"De afstemming van {report.connection} over {report.first} t/m {report.last} "
             f"vond {count} verschil(len) tussen de winkel, koppel en de boekhouding.",
             f"The reconciliation of {report.connection} for {report.first} to {report.last} "
             f"found {count} difference(s) between the shop, koppel and the ledger.", ""]
    for d in differences[:MAIL_LIMIT]:
        dutch, english = KINDS[d.kind]
        if d.changes:
            dutch += " (" + ", ".join(CHANGES[c][0] for c in d.changes) + ")"
            english += " (" + ", ".join(CHANGES[c][1] for c in d.changes) + ")"
        amounts = " ".join(f"{label} {value}" for label, value in (
            ("shop", d.shop_total), ("koppel", d.koppel_total), ("ledger", d.ledger_total))
            if value is not None)
        lines += [f"{d.number}: {amounts}", f"  {dutch}", f"  {english}"]
    if count > MAIL_LIMIT:
        lines.append(f"... {count - MAIL_LIMIT} meer / more")
    lines += ["", f"{public_url}/connections/{report.connection_id}/reconcile"
                  f"?from={report.first}&to={report.last}"]
    return subject, "\n".join(lines) + "\n"
