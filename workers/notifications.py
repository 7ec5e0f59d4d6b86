"""E-mail notices: a daily digest of new Errors, and at once a connection that needs
reconnecting (its credentials were refused), each with a link to the page.

Each person chooses what they get (``User.NotificationsChosen``; until they choose,
``default_notices`` of their role). A person hears only of the connections they may see.
Scheduler jobs send them (the digest daily, the reconnect check every minute); what was sent is
kept here, so a restart sends nothing twice. A notice is marked before it is sent and unmarked
when sending fails, so a refused mail is tried again on the next round.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable
from zoneinfo import ZoneInfo

from domain.document import Status
from domain.users import default_notices
from projections.store import ReadStore

log = logging.getLogger(__name__)

TABLES = (
    """CREATE TABLE IF NOT EXISTS notices_sent (
        user_id TEXT NOT NULL,
        notice TEXT NOT NULL,
        sent_at TEXT NOT NULL,
        PRIMARY KEY (user_id, notice)
    )""",
    """CREATE TABLE IF NOT EXISTS digest_marks (
        user_id TEXT PRIMARY KEY,
        until TEXT NOT NULL
    )""",
)
DIGEST_LIMIT = 100  # errors listed in one digest; the link shows the rest
# The merchants' clock (the Netherlands and Belgium): "every morning at 7" stays 7 across the
# change to and from summer time.
DIGEST_ZONE = ZoneInfo("Europe/Amsterdam")

Send = Callable[[str, str, str], None]  # (to, subject, body)


@dataclass(frozen=True)
class Person:
    id: str
    email: str
    role: str
    scope: frozenset[str] | None  # connection ids; None: every connection (support)

    def sees(self, connection_id: str) -> bool:
        return self.scope is None or connection_id in self.scope


class Notifier:
    def __init__(self, store: ReadStore, send: Send, public_url: str,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.store = store
        self.send = send
        self.public_url = public_url.rstrip("/")
        self.clock = clock
        with store.transaction() as cur:
            for ddl in TABLES:
                cur.execute(ddl)

    # -- who ------------------------------------------------------------------------------

    def people(self, notice: str) -> list[Person]:
        """Everyone who wants ``notice`` ("digest" or "reconnect"), with what they may see."""
        rows = self.store.query(
            f"SELECT p.id, p.email, p.role, n.{notice} AS chosen FROM people p "
            "LEFT JOIN notification_choices n ON n.user_id = p.id ORDER BY p.email")
        grants = self.store.query(
            "SELECT user_id, connection_id FROM grants WHERE revoked_at IS NULL")
        people = []
        for row in rows:
            wanted = (default_notices(row["role"])[notice] if row["chosen"] is None
                      else bool(row["chosen"]))
            if not wanted or row["role"] not in ("merchant", "accountant", "support"):
                continue
            scope = None if row["role"] == "support" else frozenset(
                g["connection_id"] for g in grants if g["user_id"] == row["id"])
            people.append(Person(row["id"], row["email"], row["role"], scope))
        return people

    # -- at once: reconnect ---------------------------------------------------------------

    def send_reconnects(self) -> int:
        """One mail per person per refusal that is not reconnected yet."""
        refusals = self.store.query(
            "SELECT r.connection_id, r.refused_at, r.system, r.message, c.name "
            "FROM credential_refusals r LEFT JOIN connections c ON c.id = r.connection_id "
            "WHERE r.reconnected_at IS NULL ORDER BY r.refused_at")
        sent = 0
        for person in self.people("reconnect"):
            for refusal in refusals:
                if not person.sees(refusal["connection_id"]):
                    continue
                notice = f"reconnect:{refusal['connection_id']}:{refusal['refused_at']}"
                if self._deliver(person, notice, *_reconnect_mail(refusal, self.public_url)):
                    sent += 1
        return sent

    # -- daily: the digest ----------------------------------------------------------------

    def send_due_digests(self, hour: int) -> int:
        """The scheduler looks every few minutes: a person whose last digest is older than
        the latest ``hour`` o'clock gets one now. So the digest comes at the same hour each
        morning, a restart sends none twice, and one missed while koppel was down comes when
        it is back."""
        return self.send_digests(due_at=latest_digest_time(self.clock(), hour))

    def send_digests(self, every: timedelta = timedelta(days=1),
                     due_at: datetime | None = None) -> int:
        """Each person's Errors that are new since their last digest (the first: of the last
        ``every``); nothing new, no mail. ``due_at``: only people whose last digest was
        before it."""
        now = self.clock().isoformat()
        sent = 0
        for person in self.people("digest"):
            since = self.store.scalar("SELECT until FROM digest_marks WHERE user_id = ?",
                                      [person.id])
            if due_at is not None and since is not None and datetime.fromisoformat(since) >= due_at:
                continue  # had today's already
            since = since or (self.clock() - every).isoformat()
            errors = [row for row in self.store.query(
                "SELECT d.id, d.number, d.kind, d.connection_id, d.failure_code, "
                "d.failure_message_nl, d.failure_message_en, c.name AS connection "
                "FROM documents d LEFT JOIN connections c ON c.id = d.connection_id "
                "WHERE d.status = ? AND d.updated_at > ? AND d.updated_at <= ? "
                "ORDER BY d.updated_at, d.id", [Status.FAILED, since, now])
                if person.sees(row["connection_id"])]
            if errors and self._deliver(person, f"digest:{now}",
                                        *_digest_mail(errors, self.public_url)):
                sent += 1
            elif errors:
                continue  # not sent: the same errors go in the next try
            with self.store.transaction() as cur:
                cur.execute("DELETE FROM digest_marks WHERE user_id = ?", [person.id])
                cur.execute("INSERT INTO digest_marks (user_id, until) VALUES (?, ?)",
                            [person.id, now])
        return sent

    # -- sending --------------------------------------------------------------------------

    def deliver(self, person: Person, notice: str, subject: str, body: str) -> bool:
        """Send one notice once (other jobs' mails too, e.g. the monthly reconciliation)."""
        return self._deliver(person, notice, subject, body)

    def _deliver(self, person: Person, notice: str, subject: str, body: str) -> bool:
        with self.store.transaction() as cur:
            cur.execute("SELECT 1 FROM notices_sent WHERE user_id = ? AND notice = ?",
                        [person.id, notice])
            if cur.fetchone() is not None:
                return False
            cur.execute("INSERT INTO notices_sent (user_id, notice, sent_at) VALUES (?, ?, ?)",
                        [person.id, notice, self.clock().isoformat()])
        try:
            self.send(person.email, subject, body)
        except Exception as error:  # the SMTP server: tried again next round
            log.warning("notice %s to %s not sent: %s", notice, person.email, error)
            with self.store.transaction() as cur:
                cur.execute("DELETE FROM notices_sent WHERE user_id = ? AND notice = ?",
                            [person.id, notice])
            return False
        return True


def _reconnect_mail(refusal: dict, public_url: str) -> tuple[str, str]:
    name = refusal["name"] or refusal["connection_id"]
    system = {"shop": "de webwinkel / the shop", "ledger": "de boekhouding / the ledger"}.get(
        refusal["system"], refusal["system"])
    subject = f"koppel: {name} moet opnieuw verbonden worden / needs reconnecting"
    body = (
        f"De toegang tot {system} voor {name} werd geweigerd: {refusal['message']}\n"
        "Documenten wachten tot u opnieuw verbindt; er gaat niets verloren.\n\n"
        f"Access to {system} for {name} was refused: {refusal['message']}\n"
        "Documents wait until you reconnect; nothing is lost.\n\n"
        f"{public_url}/\n")
    return subject, body


def _digest_mail(errors: list[dict], public_url: str) -> tuple[str, str]:
    count = len(errors)
    subject = f"koppel: {count} nieuwe fout(en) / new error(s)"
    lines = [f"{count} document(en) in Fouten sinds het vorige overzicht / in Errors since the "
             "last digest:", ""]
    for row in errors[:DIGEST_LIMIT]:
        lines += [f"{row['connection'] or ''} {row['kind']} {row['number']}: "
                  f"{row['failure_code'] or ''}",
                  f"  {row['failure_message_nl'] or ''}",
                  f"  {row['failure_message_en'] or ''}",
                  f"  {public_url}/documents/{row['id']}", ""]
    if count > DIGEST_LIMIT:
        lines.append(f"... {count - DIGEST_LIMIT} meer / more")
    lines.append(f"{public_url}/errors")
    return subject, "\n".join(lines) + "\n"


def latest_digest_time(now: datetime, hour: int) -> datetime:
    """The most recent ``hour`` o'clock in the merchants' zone at or before ``now``, in UTC."""
    local = now.astimezone(DIGEST_ZONE)
    at = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if at > local:
        at = (local - timedelta(days=1)).replace(hour=hour, minute=0, second=0, microsecond=0)
    return at.astimezone(timezone.utc)
