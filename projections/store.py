"""The database the read models live in: the same SQLite file or PostgreSQL database as the
event store, reached with the plain drivers (sqlite3, psycopg) and a few lines of SQL.

Statements are written once with ``?`` placeholders; the PostgreSQL side translates them.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from typing import Any, Iterator, Sequence
from urllib.parse import unquote, urlparse


class DatabaseURLError(ValueError):
    pass


def sqlite_path(url: str) -> str:
    """``sqlite:///var/koppel.sqlite`` (relative) or ``sqlite:////abs/koppel.sqlite``."""
    path = url[len("sqlite:///"):]
    if not path:
        raise DatabaseURLError(f"{url!r} names no file (expected sqlite:///path/to/file)")
    return path


def postgres_params(url: str) -> dict[str, str]:
    parsed = urlparse(url)
    dbname = parsed.path.lstrip("/")
    if not dbname:
        raise DatabaseURLError(f"{_redact(url)} names no database")
    return {
        "host": parsed.hostname or "127.0.0.1",
        "port": str(parsed.port or 5432),
        "user": unquote(parsed.username or "postgres"),
        "password": unquote(parsed.password or ""),
        "dbname": dbname,
    }


def _redact(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


def dialect_of(url: str) -> str:
    if url.startswith("sqlite:///"):
        return "sqlite"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgres"
    raise DatabaseURLError(
        f"KOPPEL_DATABASE_URL {_redact(url)!r} is neither sqlite:///FILE nor postgresql://..."
    )


class ReadStore:
    """Transactions and queries over the read-model tables."""

    def __init__(self, url: str, max_connections: int = 8) -> None:
        self.url = url
        self.dialect = dialect_of(url)
        self._local = threading.local()
        self._pool = None
        if self.dialect == "postgres":
            from psycopg_pool import ConnectionPool

            params = postgres_params(url)
            conninfo = " ".join(f"{k}={v!r}" if v else f"{k}=''" for k, v in params.items())
            # Autocommit: a lone statement is one round trip (no BEGIN before it, no ROLLBACK
            # when the connection goes back to the pool); transaction() still makes
            # BEGIN ... COMMIT around what must be atomic.
            self._pool = ConnectionPool(conninfo, min_size=1, max_size=max_connections,
                                        open=True,
                                        kwargs={"autocommit": True})

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _sqlite(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(sqlite_path(self.url), timeout=30, isolation_level=None,
                                   check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator["Cursor"]:
        """One write transaction; on SQLite taken IMMEDIATE so two writers queue, not fail."""
        if self.dialect == "sqlite":
            conn = self._sqlite()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield Cursor(conn.cursor(), "sqlite")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        else:
            with self._pool.connection() as conn:
                with conn.transaction():
                    with conn.cursor() as cur:
                        yield Cursor(cur, "postgres")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict]:
        """One statement on its own: a read, or a single write that is atomic by itself
        (committed at once)."""
        if self.dialect == "sqlite":
            cur = self._sqlite().execute(sql, tuple(params))
            return [dict(row) for row in cur.fetchall()]
        with self._pool.connection() as conn:
            with conn.cursor() as cur:
                cur.execute(_pg(sql), tuple(params))
                names = [d.name for d in cur.description] if cur.description else []
                return [dict(zip(names, row)) for row in cur.fetchall()]

    def scalar(self, sql: str, params: Sequence[Any] = ()):
        rows = self.query(sql, params)
        return next(iter(rows[0].values())) if rows else None


SQLITE_VARIABLES = 900  # under the 999 parameters older SQLite builds allow a statement


class Cursor:
    def __init__(self, cur, dialect: str) -> None:
        self._cur = cur
        self.dialect = dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        if self.dialect == "postgres":
            sql = _pg(sql)
        self._cur.execute(sql, tuple(params))
        return self._cur.rowcount

    def insert(self, table: str, columns: Sequence[str], rows: list[Sequence[Any]],
               key: str | None = None) -> None:
        """Many rows at once; with ``key``, a row whose key is there already replaces it.

        PostgreSQL gets them by COPY (into a temporary table first when they may replace
        rows), far cheaper than a statement a row; SQLite, in process, by executemany."""
        if not rows:
            return
        names = ", ".join(columns)
        upsert = ""
        if key is not None:
            upsert = f" ON CONFLICT ({key}) DO UPDATE SET " + ", ".join(
                f"{c} = excluded.{c}" for c in columns if c != key)
        if self.dialect == "sqlite":
            self._cur.executemany(f"INSERT INTO {table} ({names}) VALUES "
                                  f"({', '.join('?' for _ in columns)}){upsert}", rows)
            return
        target = table
        if key is not None:  # emptied at commit, so each page starts from nothing
            target = f"page_{table}"
            self._cur.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {target} "
                              f"(LIKE {table}) ON COMMIT DELETE ROWS")
        with self._cur.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        if key is not None:
            self._cur.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {target}"
                              f"{upsert}")

    def select_in(self, table: str, column: str, keys: list) -> list[dict]:
        """Every row of ``table`` whose ``column`` is one of ``keys``, as dicts."""
        rows: list[dict] = []
        for sql, params in self._in(f"SELECT * FROM {table}", column, keys):
            self._cur.execute(sql, params)
            names = [d[0] for d in self._cur.description]
            rows.extend(dict(zip(names, row)) for row in self._cur.fetchall())
        return rows

    def delete_in(self, table: str, column: str, keys: list) -> None:
        for sql, params in self._in(f"DELETE FROM {table}", column, keys):
            self._cur.execute(sql, params)

    def _in(self, statement: str, column: str, keys: list):
        if not keys:
            return
        if self.dialect == "postgres":  # one array parameter, however many keys
            yield f"{statement} WHERE {column} = ANY(%s)", (list(keys),)
            return
        for start in range(0, len(keys), SQLITE_VARIABLES):  # SQLite limits the parameters
            chunk = keys[start:start + SQLITE_VARIABLES]
            yield f"{statement} WHERE {column} IN ({', '.join('?' for _ in chunk)})", chunk

    def fetchall(self) -> list[tuple]:
        return list(self._cur.fetchall())

    def fetchone(self):
        return self._cur.fetchone()


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")
