"""
How fast SQLite can hand a stage log to Python, by how the log is laid out.

A measurement for the decision on the store's schema (issue 19's target: the stage log from
SQLite plus the reports in at most pandas' time). The log of `benchmarks.analytics` is stored
in funnelkit's event table (bulk-loaded, as that benchmark loads it). Then, not timed, it is
copied into a table of integer columns beside it, its text replaced by codes into tables of
the values (as a schema with code tables would keep it), its position the table's rowid.

Each read is timed in the same run as pandas' whole computation of the three metrics
(`benchmarks.analytics.run_pandas`), and printed as a ratio to it:

- ``text columns``: what `SqlStore.stage_log()` read before schema revision 0005 (14 columns,
  a tuple per row);
- ``integer rows``: the 13 integer columns, a tuple per row;
- ``integer packed``: the same, each column packed into one text per 100,000 rows by SQLite's
  ``group_concat`` over a range of rowids and parsed by numpy, so no Python object is made
  per value;
- ``bit-packed rows`` and ``bit-packed packed``: the integer columns read as three integers
  a row, packed by arithmetic in the query (kind, type, pipeline, stage and the stage left in
  one; entity and sequence in another; the time), as rows and packed;
- ``sparse``: the rows that carry an owner, channel, reason, amount or verdict (what the
  bit-packed reads leave to a second query).

Reading is only part of `SqlStore.stage_log()`: coding, ordering and the reports come on top
(0.1× pandas for the reports at 1,000,000 deals). Revision 0005 keeps the stage log in a
coded table of this kind (``funnelkit_stage_log``), read packed; `benchmarks.analytics` times
the whole of it.

Run from the repository root: ``.venv/bin/python -m benchmarks.sqlite_layouts [deals]``
(default 100000). pandas must be installed (``pip install pandas``): it is the baseline.
"""

from __future__ import annotations

import gc
import sqlite3
import sys
import tempfile
import time
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from benchmarks.analytics import _sql_store, generate, run_pandas

from funnelkit.analytics._stored import _TEXT


if TYPE_CHECKING:
    from collections.abc import Callable


TEXT = tuple(name for name in _TEXT if name not in {"entity_kind", "amount"})
"""The stage-log columns stored as text, coded in the integer layouts (the entity's kind is
coded by a ``CASE``; an amount stays exact text, read with the sparse rows)."""
INTEGERS = ("kind", "sequence", "time", *TEXT)
BIT_PACKED = (
    (
        "kind + 2 * ifnull(type, 0) + 128 * ifnull(pipeline, 0) + 131072 * ifnull(stage, 0) "
        "+ 4294967296 * ifnull(from_stage, 0)"
    ),
    "entity_id * 1048576 + sequence",
    "time",
)
CHUNK = 100_000


def _layouts(connection: sqlite3.Connection) -> None:
    """The integer-coded copy of the event table's stage log (not timed)."""
    for name in TEXT:
        connection.execute(
            f"CREATE TABLE code_{name} (code INTEGER PRIMARY KEY, value TEXT UNIQUE)"
        )
        connection.execute(
            f"INSERT INTO code_{name} (value) SELECT DISTINCT {name} FROM funnelkit_events "  # noqa: S608 - constants
            f"WHERE {name} IS NOT NULL"
        )
    coded = ", ".join(
        f"(SELECT code FROM code_{name} WHERE value = e.{name}) AS {name}"  # noqa: S608 - constants
        for name in TEXT
    )
    # The position is the table's rowid: the packed reads take ranges of it.
    columns = ", ".join(f"{name} INTEGER" for name in INTEGERS)
    connection.execute(
        f"CREATE TABLE stage_log (position INTEGER PRIMARY KEY, {columns}, amount TEXT)"
    )
    connection.execute(
        "INSERT INTO stage_log SELECT e.position, "  # noqa: S608 - constants
        "CASE e.entity_kind WHEN 'deal' THEN 1 ELSE 0 END, e.sequence, "
        f"coalesce(e.created_at, e.at), {coded}, e.amount FROM funnelkit_events e"
    )
    connection.commit()


def _rows(connection: sqlite3.Connection, query: str) -> int:
    return len(connection.execute(query).fetchall())


def _packed(connection: sqlite3.Connection, expressions: tuple[str, ...]) -> int:
    """Each expression packed per `CHUNK` rows by ``group_concat``, parsed by numpy."""
    last = connection.execute("SELECT max(position) FROM stage_log").fetchone()[0]
    packed = ", ".join(f"group_concat(ifnull({expression}, -1))" for expression in expressions)
    query = f"SELECT {packed} FROM stage_log WHERE position >= ? AND position < ?"  # noqa: S608 - constants
    rows = 0
    with warnings.catch_warnings():  # numpy calls text parsing by fromstring deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        for start in range(1, last + 1, CHUNK):
            texts = connection.execute(query, (start, start + CHUNK)).fetchone()
            columns = [np.fromstring(text, dtype=np.int64, sep=",") for text in texts]
            rows += len(columns[0])
    return rows


def main() -> None:
    """Time each read beside pandas, and print the ratios."""
    deals = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    columns = generate(deals)
    pandas = run_pandas(dict(columns))["seconds"]
    with tempfile.TemporaryDirectory() as folder:
        store = _sql_store(f"sqlite:///{folder}/crm.db", columns)
        store.engine.dispose()
        connection = sqlite3.connect(f"{folder}/crm.db")
        _layouts(connection)
        sparse = " OR ".join(
            f"{name} IS NOT NULL" for name in ("owner", "channel", "reason", "amount", "verdict")
        )
        reads: dict[str, Callable[[], Any]] = {
            "text columns": lambda: _rows(
                connection,
                "SELECT entity_kind, entity_id, sequence, type, coalesce(created_at, at), "
                "pipeline, stage, reason, owner, channel, from_stage, amount, currency, verdict "
                "FROM funnelkit_events",
            ),
            "integer rows": lambda: _rows(
                connection,
                f"SELECT {', '.join(INTEGERS)} FROM stage_log",  # noqa: S608 - constants
            ),
            "integer packed": lambda: _packed(connection, INTEGERS),
            "bit-packed rows": lambda: _rows(
                connection,
                f"SELECT {', '.join(BIT_PACKED)} FROM stage_log",  # noqa: S608 - constants
            ),
            "bit-packed packed": lambda: _packed(connection, BIT_PACKED),
            "sparse": lambda: _rows(
                connection,
                "SELECT position, owner, channel, reason, amount, currency, verdict "  # noqa: S608 - constants
                f"FROM stage_log WHERE {sparse}",
            ),
        }
        rows = connection.execute("SELECT count(*) FROM stage_log").fetchone()[0]
        print(f"{deals:,} deals, {rows:,} rows; pandas' three metrics: {pandas:.3f} s")
        for name, read in reads.items():
            gc.collect()
            start = time.perf_counter()
            read()
            seconds = time.perf_counter() - start
            print(f"  {name:18} {seconds:6.3f} s  {seconds / pandas:5.2f}x pandas")
        connection.close()


if __name__ == "__main__":
    main()
