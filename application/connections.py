"""Connections as the workers see them: settings in force, and the shop and ledger behind them.

The directory reads the connection aggregate (so a settings change takes effect on the next
message, and ``Checked`` can record the version), opens sealed secrets only to build a
connector, and keeps one connector per connection version so sessions and caches are shared.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Mapping, Protocol
from uuid import UUID

from eventsourcing.persistence import RecordConflictError

from application import settings as settings_file
from application.app import Koppel
from application.ports import EBoekhouden, Shop
from application.posting import SalePosting, sale_posting
from application.secrets import SecretBox
from domain.connection import Connection
from domain.settings import Settings
from domain.start_date import BookedSpan


class UnknownConnection(LookupError):
    pass


@dataclass(frozen=True)
class ConnectionContext:
    id: UUID
    name: str
    version: int
    settings: Settings
    credentials_problem: str | None
    webhook_generation: int = 0
    span: BookedSpan = BookedSpan()
    paused: str | None = None
    ledger_targets: tuple[str, ...] = ()  # further ledgers (application/replay.py)
    ledger_since: int = 0  # the settings version it switched ledgers at (0: never)


class Connectors(Protocol):
    """Builds connectors; ``secret(path)`` opens the secret at a settings key path."""

    def shop(self, settings: Settings, secret: Callable[[str], str]) -> Shop: ...

    def eboekhouden(self, settings: Settings, secret: Callable[[str], str]) -> EBoekhouden: ...

    def billit(self, settings: Settings, secret: Callable[[str], str], tokens) -> object: ...


def _get_path(data: dict, path: str):
    for key in path.split("."):
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _set_path(data: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    for key in parents:
        data = data[key]
    data[last] = value


class ConnectionDirectory:
    def __init__(self, app: Koppel, connectors: Connectors, box: SecretBox,
                 environ: Mapping[str, str] = os.environ) -> None:
        self.app = app
        self.connectors = connectors
        self.box = box
        self.environ = environ
        self._lock = threading.Lock()
        self._parsed: dict[tuple[UUID, int], Settings] = {}
        self._ports: dict[tuple[UUID, int, str], object] = {}
        self._current: dict[UUID, tuple[int, ConnectionContext]] = {}

    # -- reading -------------------------------------------------------------------------

    def get(self, conn_id: UUID) -> ConnectionContext:
        """The connection as it is now. Every webhook and message asks, so the last answer is
        kept and reused while the event store holds no newer event of the connection: one
        small read instead of a snapshot, its events and the settings to decode."""
        with self._lock:
            known = self._current.get(conn_id)
        if known is not None and not self.app.recorder.select_events(conn_id, gt=known[0],
                                                                      limit=1):
            return known[1]
        aggregate = self.app.find_connection(conn_id)
        if aggregate is None or aggregate.removed:
            raise UnknownConnection(f"no connection with id {conn_id}")
        key = (conn_id, aggregate.settings_version)
        with self._lock:
            parsed = self._parsed.get(key)
            if parsed is None:
                parsed = self._parsed[key] = settings_file.settings_from_dict(aggregate.settings)
                for older in [k for k in self._parsed if k[0] == conn_id and k[1] < key[1]]:
                    del self._parsed[older]
        context = ConnectionContext(conn_id, aggregate.name, aggregate.settings_version, parsed,
                                    aggregate.credentials_problem, aggregate.webhook_generation,
                                    span=aggregate.booked_span, paused=aggregate.paused,
                                    ledger_targets=aggregate.ledger_targets,
                                    ledger_since=aggregate.ledger_since)
        with self._lock:
            self._current[conn_id] = (aggregate.version, context)
        return context

    def name_of(self, conn_id: UUID) -> str:
        """The connection's name as last read here, without reading (a label for the
        metrics); its id when it was never read in this process."""
        with self._lock:
            known = self._current.get(conn_id)
        return known[1].name if known is not None else str(conn_id)

    def shop(self, connection: ConnectionContext) -> Shop:
        return self._port(connection, "shop", self.connectors.shop)

    def ledger(self, connection: ConnectionContext):
        if connection.settings.ledger.system == "billit":
            return self._port(connection, "ledger", lambda settings, secret: self.connectors.billit(
                settings, secret, self.token_store(connection.id)))
        return self._port(connection, "ledger", self.connectors.eboekhouden)

    def posting(self, connection: ConnectionContext) -> SalePosting:
        return sale_posting(connection.settings, self.ledger(connection))

    def token_store(self, conn_id: UUID) -> "EventStoreTokens":
        return EventStoreTokens(self, conn_id)

    def reconnected(self, conn_id: UUID, by: str) -> None:
        """The merchant connected again (new token, new OAuth grant): documents go on."""
        self.record(conn_id, lambda connection: connection.reconnect(by=by))
        self.forget_ports(conn_id)

    def rotate_webhook_token(self, conn_id: UUID, by: str) -> int:
        """A new webhook token for this connection only; the old addresses stop working at
        once in every process (the endpoint reads the connection on every webhook)."""
        return self.record(conn_id, lambda connection: connection.rotate_webhook_token(by=by)
                           ).webhook_generation

    def record(self, conn_id: UUID, change: Callable[[Connection], object]) -> Connection:
        """Apply ``change`` to the connection as it is now and save it; when another process
        recorded something meanwhile, apply it again on top of that."""
        for _ in range(8):
            aggregate = self.app.find_connection(conn_id)
            if aggregate is None:
                raise UnknownConnection(f"no connection with id {conn_id}")
            change(aggregate)
            try:
                self.app.save(aggregate)
                return aggregate
            except RecordConflictError:
                continue
        raise RuntimeError(f"could not record a change of connection {conn_id}: it kept "
                           f"changing meanwhile")

    def _port(self, connection: ConnectionContext, kind: str, build):
        """One connector per connection, settings version and kind, shared by this process's
        threads (its HTTP pool, session and looked-up ledger codes with it). A connector of
        an older version is let go, not closed: a thread may still be finishing a message
        with it (its HTTP pool is the process's, see ``workers.connectors.factory``)."""
        key = (connection.id, connection.version, kind)
        with self._lock:
            port = self._ports.get(key)
            if port is None:
                port = self._ports[key] = build(connection.settings,
                                                lambda path: self.secret(connection, path))
                for older in [k for k in self._ports
                              if k[0] == connection.id and k[2] == kind and k[1] < key[1]]:
                    del self._ports[older]
        return port

    def secret(self, connection: ConnectionContext, path: str) -> str:
        stored = self.app.find_connection(connection.id).settings
        value = _get_path(stored, path)
        if not value:
            raise KeyError(f"setting {path} is empty")
        return self.box.open(value, self.environ)

    def forget_ports(self, conn_id: UUID) -> None:
        """After a reconnect: build connectors afresh with the new credentials."""
        with self._lock:
            for key in [k for k in self._ports if k[0] == conn_id]:
                del self._ports[key]

    def close(self) -> None:
        """The process stops: close the keep-alive pools the connectors shared. The connectors
        are let go without a call each: ending every connection's ledger session would cost
        a stopping worker one request per connection (hundreds, each up to the HTTP timeout
        when a ledger is slow), and a session ends on its own."""
        with self._lock:
            self._ports = {}
        close = getattr(self.connectors, "close", None)
        if close is not None:
            close()

    # -- writing ---------------------------------------------------------------------------

    def save(self, settings: Settings, by: str,
             start_date: datetime | None = None) -> tuple[ConnectionContext, bool]:
        """Create or update the connection named in the settings; secrets are sealed first.
        ``start_date``: a new connection's (default: now); an existing one keeps its own."""
        stored = settings_file.settings_to_dict(settings)
        previous = self.app.connection_named(settings.name)
        for path in settings_file.SECRET_FIELDS:
            value = _get_path(stored, path)
            if not value:
                continue
            earlier = _get_path(previous.settings, path) if previous else None
            if earlier and earlier.startswith("enc:") and \
                    self.box.open(earlier, self.environ) == value:
                _set_path(stored, path, earlier)  # unchanged secret: no new settings version
            else:
                _set_path(stored, path, self.box.seal(value))
        aggregate, changed = self.app.save_connection(settings.name, stored, by=by,
                                                      start_date=start_date)
        if changed and aggregate.credentials_problem:
            self.reconnected(aggregate.id, by=by)  # new credentials: give them a try
        return self.get(aggregate.id), changed

    def set_start_date(self, conn_id: UUID, when: datetime, by: str) -> bool:
        """Move the start date (recorded with who did it); False when it was already that."""
        return self.changed(conn_id, lambda connection: connection.set_start_date(when, by=by))

    def changed(self, conn_id: UUID, command: Callable[[Connection], bool]) -> bool:
        """``record`` for a command that says whether it recorded anything (False: it was so
        already)."""
        said = []
        self.record(conn_id, lambda connection: said.append(command(connection)))
        return bool(said[-1])

    def exported(self, conn_id: UUID) -> Settings:
        """The settings as a merchant may see them: sealed secrets stay sealed."""
        return self.get(conn_id).settings


class EventStoreTokens:
    """The ledger's OAuth tokens, kept sealed in the connection's events.

    ``load`` reads the connection afresh each time, so a worker process sees the tokens another
    process saved after its refresh; ``save`` returns only once the event is stored."""

    def __init__(self, directory: ConnectionDirectory, conn_id: UUID) -> None:
        self.directory, self.conn_id = directory, conn_id

    def load(self) -> dict | None:
        aggregate = self.directory.app.find_connection(self.conn_id)
        if aggregate is None or not aggregate.ledger_tokens:
            return None
        return json.loads(self.directory.box.open(aggregate.ledger_tokens, {}))

    def save(self, tokens: dict) -> None:
        sealed = self.directory.box.seal(json.dumps(tokens, sort_keys=True))
        self.directory.record(self.conn_id, lambda connection:
                              connection.issue_ledger_tokens(sealed))

    def __repr__(self) -> str:
        return f"EventStoreTokens({self.conn_id}, <tokens hidden>)"
