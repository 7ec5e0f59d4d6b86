"""``koppel doctor``: is this installation able to run, and if not, what to do about it.

Each check gives one line: what was checked, and when it fails, what is wrong and how to fix
it. The database, broker and secret-key checks only read; the connection checks make one real
call to each shop and ledger, as a worker would, so wrong or expired credentials show up here
instead of in the Errors list the next morning.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping
from urllib.parse import urlparse

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError
from psycopg_pool import PoolTimeout

from web.config import ConfigError, from_environment

CONNECT_TIMEOUT = 5  # seconds: a database or broker that takes longer is as good as down

# The tables koppel creates when it starts (the event store's, then the read models').
EVENT_TABLES = {"sqlite": "stored_events", "postgres": "koppel_events"}
READ_TABLES = ("projection_tracking", "documents", "connections")

# What a database that stopped answering raises, through the event store or the read store.
DATABASE_ERRORS = (OperationalError, InterfaceError, psycopg.OperationalError, PoolTimeout)


@dataclass(frozen=True)
class Finding:
    what: str
    problem: str = ""  # empty: fine
    fix: str = ""
    detail: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem

    def line(self) -> str:
        if self.ok:
            return f"ok    {self.what}" + (f": {self.detail}" if self.detail else "")
        return f"FAIL  {self.what}: {self.problem}" + (f"; {self.fix}" if self.fix else "")


def hide_password(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@", 1)
    return url


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# -- the database ---------------------------------------------------------------------------

def database_problem(url: str, timeout: float = CONNECT_TIMEOUT) -> str:
    """Why the database cannot be reached, in one line; empty when it can."""
    from projections.store import DatabaseURLError, dialect_of, postgres_params, sqlite_path

    try:
        if dialect_of(url) == "sqlite":
            path = Path(sqlite_path(url))
            if not path.parent.is_dir() and path.parent.exists():
                return f"{path.parent} is not a directory"
            return ""  # koppel creates the file (and its directory) when it starts
        params = postgres_params(url)
        with psycopg.connect(connect_timeout=max(1, int(timeout)), **params):
            return ""
    except DatabaseURLError as error:
        return str(error)
    except Exception as error:  # noqa: BLE001 - psycopg's and the OS's errors alike
        return first_line(error)


def unreachable_database(url: str, reason: str) -> str:
    """The one line every command prints when the database cannot be reached."""
    return (f"cannot reach the database {hide_password(url)}: {reason}. Start it, or set "
            f"KOPPEL_DATABASE_URL to the right address (`koppel doctor` checks the rest)")


def _tables(url: str) -> set[str]:
    from projections.store import dialect_of, postgres_params, sqlite_path

    if dialect_of(url) == "sqlite":
        path = sqlite_path(url)
        if not Path(path).exists():
            return set()
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return {row[0] for row in db.execute("SELECT name FROM sqlite_master "
                                                 "WHERE type = 'table'")}
    with psycopg.connect(connect_timeout=CONNECT_TIMEOUT, **postgres_params(url)) as db:
        return {row[0] for row in db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = "
            "current_schema()")}


def check_database(url: str) -> list[Finding]:
    from projections.store import DatabaseURLError, dialect_of

    try:
        dialect = dialect_of(url)
    except DatabaseURLError as error:
        return [Finding("database", str(error), "set KOPPEL_DATABASE_URL to sqlite:///FILE or "
                                                "postgresql://user:password@host/database")]
    reason = database_problem(url)
    if reason:
        return [Finding("database", f"cannot reach {hide_password(url)}: {reason}",
                        "start the database or correct KOPPEL_DATABASE_URL")]
    reached = Finding("database", detail=f"{hide_password(url)} answers")
    missing = [t for t in (EVENT_TABLES[dialect], *READ_TABLES) if t not in _tables(url)]
    if missing:
        return [reached, Finding("database tables", f"missing {', '.join(missing)}",
                                 "start koppel once (`koppel serve`, or `koppel projections "
                                 "rebuild`): it creates its tables")]
    return [reached, Finding("database tables", detail="event store and read models present")]


# -- the broker -----------------------------------------------------------------------------

def check_broker(url: str) -> Finding:
    if not url:
        return Finding("broker", detail="none (embedded: in-process broker and worker threads)")
    try:
        if url.startswith(("amqp://", "amqps://")):
            import pika

            parameters = pika.URLParameters(url)
            parameters.socket_timeout = parameters.blocked_connection_timeout = CONNECT_TIMEOUT
            quiet = logging.getLogger("pika")  # it logs each failed step with a traceback
            level, quiet.level = quiet.level, logging.CRITICAL
            try:
                pika.BlockingConnection(parameters).close()
            finally:
                quiet.setLevel(level)
        elif url.startswith(("redis://", "rediss://", "unix://")):
            import redis

            client = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT,
                                          socket_timeout=CONNECT_TIMEOUT)
            try:
                client.ping()
            finally:
                client.close()
        else:
            return Finding("broker", f"{hide_password(url)} is neither amqp:// nor redis://",
                           "set KOPPEL_BROKER_URL to RabbitMQ's amqp:// or Redis's redis:// "
                           "address, or leave it empty for embedded mode")
    except Exception as error:  # noqa: BLE001 - pika's and redis's errors alike
        # pika puts the reason in its first argument and says nothing in its own text
        reason = str(error) or (str(error.args[0]) if error.args else "") or repr(error)
        return Finding("broker", f"cannot reach {hide_password(url)}: {reason.splitlines()[0]}",
                       "start RabbitMQ/Redis or correct KOPPEL_BROKER_URL")
    return Finding("broker", detail=f"{hide_password(url)} answers")


# -- the secret key -------------------------------------------------------------------------

def check_secret_key(environ: Mapping[str, str], error: ConfigError | None) -> Finding:
    if error is not None:
        return Finding("secret key", str(error),
                       "set KOPPEL_SECRET_KEY (the same value in the web, worker and scheduler "
                       "processes) to the key the stored credentials were sealed with")
    if environ.get("KOPPEL_SECRET_KEY"):
        return Finding("secret key", detail="KOPPEL_SECRET_KEY is set")
    return Finding("secret key", detail="embedded: generated and kept in var/secret_key")


# -- each connection's credentials ----------------------------------------------------------

def _call(what: str, call) -> Finding:
    from application.errors import CredentialsError, KoppelError, TransientError
    from application.secrets import SecretError

    try:
        call()
    except SecretError as error:
        return Finding(what, f"the stored credentials cannot be opened: {error}",
                       "use the KOPPEL_SECRET_KEY they were sealed with, or import the "
                       "settings again (`koppel connections import FILE`)")
    except CredentialsError as error:
        return Finding(what, f"credentials refused: {error.message}",
                       "enter valid credentials and `koppel connections import FILE` again")
    except TransientError as error:
        return Finding(what, f"cannot be reached: {error.message}",
                       "check the address in the settings and that this machine may reach it")
    except KoppelError as error:
        return Finding(what, error.message, "see the message; then run `koppel doctor` again")
    except Exception as error:  # noqa: BLE001 - any other failure is worth one line too
        return Finding(what, f"{type(error).__name__}: {first_line(error)}",
                       "check the connection's settings")
    return Finding(what, detail="credentials accepted")


def _ledger_call(ledger, system: str):
    if system == "billit":
        return ledger.account_information
    # Any read needs a session, and a session needs a valid API token.
    return lambda: ledger.find_relation_by_code("koppel-doctor")


def check_connections(runtime) -> Iterator[Finding]:
    from uuid import UUID

    rows = runtime.store.query("SELECT id, name FROM connections ORDER BY name")
    if not rows:
        yield Finding("connections", detail="none yet (`koppel connections import FILE`)")
        return
    for row in rows:
        connection = runtime.connections.get(UUID(row["id"]))
        name = f"connection {row['name']!r}"
        if connection.credentials_problem:
            yield Finding(name, f"documents wait: {connection.credentials_problem}",
                          "reconnect (import corrected settings, or Connect Billit again)")
        yield _call(f"{name} shop", lambda: runtime.connections.shop(connection).list_webhooks())
        system = connection.settings.ledger.system
        yield _call(f"{name} ledger ({system})",
                    lambda: _ledger_call(runtime.connections.ledger(connection), system)())


# -- all of it ------------------------------------------------------------------------------

def examine(environ: Mapping[str, str] = os.environ, var_dir: Path = Path("var"),
            bootstrap=None) -> Iterable[Finding]:
    """Every check, in the order an operator fixes things; connections only once the database
    and the key are right (they need both)."""
    try:
        config, key_error = from_environment(environ, var_dir), None
    except ConfigError as error:
        # Go on with the database and broker checks; only the key is missing.
        config, key_error = from_environment({**environ, "KOPPEL_SECRET_KEY": "-"}, var_dir), error
    database = check_database(config.database_url)
    yield from database
    yield check_broker(config.broker_url)
    yield check_secret_key(environ, key_error)
    if key_error is not None or not all(f.ok for f in database):
        yield Finding("connections", "not checked",
                      "fix the lines above first: the connections need the database and key")
        return
    if bootstrap is None:
        from web.bootstrap import bootstrap
    runtime = bootstrap(config, environ=environ)
    try:
        behind = (runtime.app.recorder.max_notification_id() or 0) - runtime.projector.position()
        yield Finding("read models", detail=f"{behind} events behind the event store (no "
                      f"projector running?)" if behind else "up to date with the event store")
        runtime.projector.catch_up()  # the list of connections is a read model
        yield from check_connections(runtime)
    finally:
        runtime.stop()
