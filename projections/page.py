"""One page of the event log folded into the read models at once: the projector's unit of work.

Applying events one SQL statement at a time made a rebuild of a million events take minutes
(issue 12). A page instead

1. asks each view which rows its events touch, and loads them with one SELECT per table;
2. folds every event, in log order, into those rows in memory (a view reads the rows as the
   events before it in the page left them, exactly as it read the table before);
3. writes each table's changed rows with one bulk upsert (COPY on PostgreSQL; and one delete
   for rows replaced whole), in the transaction that also moves the tracking position.

Live projection and ``rebuild`` both go through here, page by page, so a rebuilt read model is
the live one (I4); only their page sizes differ.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from projections.store import Cursor

_COLUMN = re.compile(r"^\s*(\w+)\s+(TEXT|BIGINT|INTEGER)\b(.*)$", re.IGNORECASE)
_DEFAULT = re.compile(r"DEFAULT\s+('[^']*'|-?\d+)", re.IGNORECASE)


def columns_of(ddl: str) -> dict[str, Any]:
    """A table's columns with their defaults (None where there is none), read from its
    ``CREATE TABLE``: the statement stays the one place a column is declared."""
    columns: dict[str, Any] = {}
    for line in ddl.splitlines():
        match = _COLUMN.match(line)
        if not match or match.group(1).upper() in ("PRIMARY", "CREATE"):
            continue
        default = _DEFAULT.search(match.group(3))
        value = None
        if default:
            text = default.group(1)
            value = text[1:-1] if text.startswith("'") else int(text)
        columns[match.group(1)] = value
    return columns


class Table:
    """A read-model table whose rows are kept by one key column."""

    def __init__(self, name: str, key: str, ddl: str) -> None:
        self.name = name
        self.key = key
        self.defaults = columns_of(ddl)
        if key not in self.defaults:
            raise ValueError(f"{name} has no column {key}")
        self.columns = tuple(self.defaults)


class Page:
    """The rows one page of events changes, held in memory until ``write``."""

    def __init__(self) -> None:
        self._wanted: dict[Table, dict[Any, None]] = {}
        self._rows: dict[Table, dict[Any, dict | None]] = {}  # None: no such row
        self._changed: dict[Table, dict[Any, None]] = {}  # insertion-ordered sets
        self._replaced: dict[tuple[str, str], dict[Any, list[dict]]] = {}
        self._statements: list[tuple[str, list]] = []

    # -- before the fold -------------------------------------------------------------------

    def want(self, table: Table, key: Any) -> None:
        self._wanted.setdefault(table, {})[key] = None

    def load(self, cur: Cursor) -> None:
        """One SELECT per table for every row the page's events touch."""
        for table, keys in self._wanted.items():
            rows = self._rows.setdefault(table, {})
            for key in keys:
                rows[key] = None
            for row in cur.select_in(table.name, table.key, list(keys)):
                rows[row[table.key]] = row

    # -- the fold --------------------------------------------------------------------------

    def row(self, table: Table, key: Any) -> dict | None:
        """The row as the events so far left it (None: there is none)."""
        try:
            return self._rows[table][key]
        except KeyError:
            raise LookupError(f"{table.name} {key!r} was not asked for before the fold") from None

    def create(self, table: Table, key: Any, **values: Any) -> None:
        row = dict(table.defaults)
        row.update(values)
        row[table.key] = key
        self._rows.setdefault(table, {})[key] = row
        self._changed.setdefault(table, {})[key] = None

    def update(self, table: Table, key: Any, **values: Any) -> None:
        """As ``UPDATE ... WHERE key = ?``: nothing when there is no such row."""
        row = self.row(table, key)
        if row is not None:
            row.update(values)
            self._changed.setdefault(table, {})[key] = None

    def replace(self, table: str, key_column: str, key: Any, rows: list[dict]) -> None:
        """Every row of ``table`` with ``key_column = key`` becomes ``rows`` (the table is
        only ever written whole per key, so it needs no loading)."""
        self._replaced.setdefault((table, key_column), {})[key] = rows

    def statement(self, sql: str, params: list) -> None:
        """A statement run as it was, in log order, after the page's bulk writes: for the few
        events (people, grants, notices) whose tables no other view reads during a fold, and
        for the deletions of a removed connection and an erased history, whose documents have
        no events after their erasure (so deleting last gives the same rows)."""
        self._statements.append((sql, params))

    # -- after the fold --------------------------------------------------------------------

    def write(self, cur: Cursor) -> None:
        for table, keys in self._changed.items():
            rows = self._rows[table]
            cur.insert(table.name, table.columns,
                       [[rows[key][c] for c in table.columns] for key in keys], key=table.key)
        for (table, key_column), replaced in self._replaced.items():
            cur.delete_in(table, key_column, list(replaced))
            fresh = [row for rows in replaced.values() for row in rows]
            if fresh:
                columns = list(fresh[0])
                cur.insert(table, columns, [[row[c] for c in columns] for row in fresh])
        for sql, params in self._statements:
            cur.execute(sql, params)


def apply_page(cur: Cursor, views: Iterable, events: list) -> None:
    """Fold ``events`` (in log order) into every view: load, fold, write."""
    views = list(views)
    page = Page()
    for event in events:
        for view in views:
            view.want(page, event)
    page.load(cur)
    for event in events:
        for view in views:
            view.fold(page, event)
    page.write(cur)
