"""A connection: one shop linked to one ledger, with its settings (settings.md).

Settings changes are events, so the version in force when a document was booked is always
known (``Checked`` records it). Secrets never enter these events in plain text: the
application stores them as ``env:NAME`` references or encrypted (``enc:...``) before they
reach the aggregate.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.ids import connection_id
from domain.start_date import BookedSpan, Period, moment


class Connection(Aggregate):
    TOPIC = "koppel:Connection"
    # Which webhook token is valid (see WebhookTokenRotated). A class default, so connections
    # and snapshots from before rotation existed read 0: their addresses keep working.
    webhook_generation = 0
    # Class defaults, so a snapshot taken before these existed still reads.
    removed: bool = False
    erased: tuple = ()  # the tombstone of an erased history
    credentials_problem_nl: str | None = None  # the refused credentials' problem in Dutch
    paused: str | None = None  # why nothing is booked now (None: it runs)
    # Further ledgers it books into (domain/ledger_target.py), as target ids. A class default
    # for connections and snapshots from before targets existed.
    ledger_targets: tuple[str, ...] = ()
    # The settings version from which it books into the ledger it switched to (0: never
    # switched): a sale booked before it got its payment from the old ledger's side.
    ledger_since: int = 0

    class Created(Aggregate.Created):
        TOPIC = "koppel:Connection.Created:v1"
        name: str
        settings: dict

    def __init__(self, name: str, settings: dict) -> None:
        self.name = name
        self.settings = settings
        self.settings_version = 1
        self.credentials_problem: str | None = None
        self.ledger_tokens: str | None = None  # sealed by the application, never plain
        self.start_date: str | None = None  # ISO, UTC; None: made before start dates existed
        self.imported: tuple[tuple[str, str], ...] = ()  # periods before it, booked on request
        self.checks: dict[str, dict] = {}  # "shop" | "ledger" -> the last real call's outcome
        self.paused: str | None = None  # why nothing is booked now (None: it runs)

    @staticmethod
    def create_id(name: str) -> UUID:
        return connection_id(name)

    @classmethod
    def create(cls, name: str, settings: dict) -> "Connection":
        return cls._create(cls.Created, name=name, settings=settings)

    class SettingsChanged(Aggregate.Event):
        TOPIC = "koppel:Connection.SettingsChanged:v1"
        settings: dict
        by: str

        def apply(self, connection: "Connection") -> None:
            connection.settings = self.settings
            connection.settings_version += 1

    def change_settings(self, settings: dict, by: str) -> bool:
        """False when nothing changed, so re-importing the same file adds no version."""
        if settings == self.settings:
            return False
        self.trigger_event(self.SettingsChanged, settings=settings, by=by)
        return True

    class CredentialsRefused(Aggregate.Event):
        """The shop or ledger refused the stored credentials: documents wait, the merchant
        must reconnect."""

        TOPIC = "koppel:Connection.CredentialsRefused:v1"
        system: str
        message: str
        message_nl: str = ""  # recorded since the Dutch pages needed it; older events have none

        def apply(self, connection: "Connection") -> None:
            connection.credentials_problem = f"{self.system}: {self.message}"
            connection.credentials_problem_nl = self.message_nl or None

    def refuse_credentials(self, system: str, message: str, message_nl: str = "") -> None:
        if self.credentials_problem != f"{system}: {message}":
            self.trigger_event(self.CredentialsRefused, system=system, message=message,
                               message_nl=message_nl)

    class LedgerTokensIssued(Aggregate.Event):
        """New OAuth tokens for the ledger (Billit), sealed. Refresh tokens are single-use,
        so the new pair is recorded before it is used: losing it would cut the connection."""

        TOPIC = "koppel:Connection.LedgerTokensIssued:v1"
        sealed_tokens: str

        def apply(self, connection: "Connection") -> None:
            connection.ledger_tokens = self.sealed_tokens

    def issue_ledger_tokens(self, sealed_tokens: str) -> None:
        if not sealed_tokens.startswith("enc:"):
            raise ValueError("ledger tokens must be sealed before they are recorded")
        self.trigger_event(self.LedgerTokensIssued, sealed_tokens=sealed_tokens)

    class Reconnected(Aggregate.Event):
        TOPIC = "koppel:Connection.Reconnected:v1"
        by: str

        def apply(self, connection: "Connection") -> None:
            connection.credentials_problem = None
            connection.credentials_problem_nl = None

    def reconnect(self, by: str) -> None:
        if self.credentials_problem is not None:
            self.trigger_event(self.Reconnected, by=by)

    class WebhookTokenRotated(Aggregate.Event):
        """The connection's webhook addresses get a new token and the old one stops working,
        without touching any other connection or the secret key. Only a counter is recorded:
        the token is derived from it and the secret key, so no secret enters the log."""

        TOPIC = "koppel:Connection.WebhookTokenRotated:v1"
        generation: int
        by: str

        def apply(self, connection: "Connection") -> None:
            connection.webhook_generation = self.generation

    def rotate_webhook_token(self, by: str) -> int:
        self.trigger_event(self.WebhookTokenRotated, generation=self.webhook_generation + 1,
                           by=by)
        return self.webhook_generation
    # -- what the connection books (domain/start_date.py) ------------------------------------

    class StartDateSet(Aggregate.Event):
        """From this moment on the shop's documents are booked; older ones only when a
        period of history is imported."""

        TOPIC = "koppel:Connection.StartDateSet:v1"
        start_date: str
        by: str

        def apply(self, connection: "Connection") -> None:
            connection.start_date = self.start_date

    def set_start_date(self, when: datetime, by: str) -> bool:
        # The shop writes creation times in whole seconds: an order taken in the very second
        # of connecting must not look older than the connection.
        text = moment(when).replace(microsecond=0).isoformat()
        if text == self.start_date:
            return False
        self.trigger_event(self.StartDateSet, start_date=text, by=by)
        return True

    class HistoryImported(Aggregate.Event):
        """The merchant chose to book a period before the start date (an import)."""

        TOPIC = "koppel:Connection.HistoryImported:v1"
        start: str
        end: str
        by: str

        def apply(self, connection: "Connection") -> None:
            connection.imported = (*connection.imported, (self.start, self.end))

    def import_period(self, period: Period, by: str) -> bool:
        pair = (period.start.isoformat(), period.end.isoformat())
        if pair in self.imported:
            return False
        self.trigger_event(self.HistoryImported, start=pair[0], end=pair[1], by=by)
        return True

    @property
    def booked_span(self) -> BookedSpan:
        return BookedSpan(
            moment(self.start_date) if self.start_date else None,
            tuple(Period(moment(start), moment(end)) for start, end in self.imported))

    # -- the two status dots: did a real call to the shop / the ledger succeed? --------------

    class StatusChecked(Aggregate.Event):
        """koppel called the shop or the ledger with the connection's credentials; ``ok``
        only when the call succeeded. The messages say what the other side answered."""

        TOPIC = "koppel:Connection.StatusChecked:v1"
        system: str  # shop | ledger
        ok: bool
        code: str
        message_nl: str
        message_en: str

        def apply(self, connection: "Connection") -> None:
            connection.checks = {**connection.checks, self.system: {
                "ok": self.ok, "at": self.timestamp.isoformat(), "code": self.code,
                "message_nl": self.message_nl, "message_en": self.message_en}}

    def record_check(self, system: str, ok: bool, code: str = "", message_nl: str = "",
                     message_en: str = "") -> None:
        if system not in ("shop", "ledger"):
            raise ValueError(f"unknown system {system!r}")
        self.trigger_event(self.StatusChecked, system=system, ok=ok, code=code,
                           message_nl=message_nl, message_en=message_en)

    # -- paused: documents are taken in and wait; nothing reaches the ledger ------------------

    class Paused(Aggregate.Event):
        TOPIC = "koppel:Connection.Paused:v1"
        by: str
        reason: str

        def apply(self, connection: "Connection") -> None:
            connection.paused = self.reason

    def pause(self, by: str, reason: str) -> bool:
        if self.paused is not None:
            return False
        self.trigger_event(self.Paused, by=by, reason=reason)
        return True

    class Resumed(Aggregate.Event):
        TOPIC = "koppel:Connection.Resumed:v1"
        by: str

        def apply(self, connection: "Connection") -> None:
            connection.paused = None

    def resume(self, by: str) -> bool:
        if self.paused is None:
            return False
        self.trigger_event(self.Resumed, by=by)
        return True

    # -- removed: the connection stops for good; its history is kept or erased ----------------

    class Removed(Aggregate.Event):
        """The merchant removed the connection: nothing is taken in or booked any more."""

        TOPIC = "koppel:Connection.Removed:v1"
        by: str
        erase: bool

        def apply(self, connection: "Connection") -> None:
            connection.removed = True

    def remove(self, by: str, erase: bool) -> bool:
        if self.removed:
            return False
        self.trigger_event(self.Removed, by=by, erase=erase)
        return True

    class HistoryErased(Aggregate.Event):
        """The tombstone of an erased history: which documents were there and where the ledger
        has them (numbers, statuses, ledger references; no customer data). Their own events
        are deleted from the event store after this is recorded."""

        TOPIC = "koppel:Connection.HistoryErased:v1"
        by: str
        documents: list  # [{"id", "kind", "number", "status", "ledger_reference"}]

        def apply(self, connection: "Connection") -> None:
            connection.erased = (*connection.erased, *self.documents)

    def record_erasure(self, by: str, documents: list[dict]) -> bool:
        if not self.removed:
            raise ValueError("only a removed connection's history can be erased")
        self.trigger_event(self.HistoryErased, by=by, documents=documents)
        return True

    # -- further ledgers (domain/ledger_target.py) ----------------------------------------

    class LedgerTargetAdded(Aggregate.Event):
        """A second ledger (a copy, or the ledger it switches to) gets this connection's
        bookings too; its postings are kept per target."""

        TOPIC = "koppel:Connection.LedgerTargetAdded:v1"
        target_id: str
        name: str
        purpose: str
        by: str

        def apply(self, connection: "Connection") -> None:
            connection.ledger_targets = (*connection.ledger_targets, self.target_id)

    def add_ledger_target(self, target_id: UUID, name: str, purpose: str, by: str) -> bool:
        if str(target_id) in self.ledger_targets:
            return False
        self.trigger_event(self.LedgerTargetAdded, target_id=str(target_id), name=name,
                           purpose=purpose, by=by)
        return True

    class LedgerSwitched(Aggregate.Event):
        """The connection books into the ledger of this target from settings ``version``
        on; what the old ledger booked stays there (and in the documents' history)."""

        TOPIC = "koppel:Connection.LedgerSwitched:v1"
        target_id: str
        version: int
        by: str

        def apply(self, connection: "Connection") -> None:
            connection.ledger_since = self.version

    def switch_ledger(self, target_id: UUID, version: int, by: str) -> None:
        self.trigger_event(self.LedgerSwitched, target_id=str(target_id), version=version,
                           by=by)
