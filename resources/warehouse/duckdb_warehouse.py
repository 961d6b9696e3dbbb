"""The DuckDB warehouse (local and ci): one file, one writer at a time."""

import random
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from resources.warehouse.base import Warehouse, _arrow_table, checked_arrow, is_arrow
from resources.warehouse.dialects import DUCKDB
from resources.warehouse.schema import TableSpec
from resources.warehouse.sql import ddl

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

# Each thread's session connections (DuckDBWarehouse.session), by database path.
_sessions = threading.local()


class DuckDBWarehouse(Warehouse):
    """A DuckDB file. DuckDB allows one writing process at a time: writers are serialised by the
    ``duckdb`` concurrency pool in Dagster, and a short retry covers a lock held by a reader."""

    dialect: ClassVar[str] = DUCKDB
    staged: ClassVar[str] = "staged__"

    path: str = Field(description="Path of the DuckDB database file.")
    lock_timeout_s: float = Field(default=60.0, description="How long to wait for the file lock.")

    def _open(self, read_only: bool) -> Any:
        import duckdb

        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout_s
        while True:
            try:
                return duckdb.connect(self.path, read_only=read_only)
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.1 + random.random() * 0.4)

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[Any]:
        held = getattr(_sessions, "connections", {}).get(self.path)
        if held is not None and not read_only:
            yield held
            return
        with super().connect(read_only) as con:
            yield con

    @contextmanager
    def session(self) -> Iterator[None]:
        """Every operation of this thread in the block shares one connection. Each connect opens
        the file and reads its catalogue (20-30 ms): a step's planning or summary queries paid
        that a dozen times. The block holds the file: no other process can write it meanwhile,
        so it must not span work done by another process (a dbt build)."""
        connections = _sessions.__dict__.setdefault("connections", {})
        if self.path in connections:
            yield  # nested: the outer block's connection
            return
        ensured = _sessions.__dict__.setdefault("ensured", {})
        with super().connect() as con:
            connections[self.path] = con
            ensured[self.path] = set()
            try:
                yield
            finally:
                del connections[self.path]
                del ensured[self.path]

    def _ensured_in_session(self) -> set[str] | None:
        """Tables whose DDL already ran in this thread's session (None: no session). The session
        holds the file, so no other process can drop or alter them meanwhile; a batch loop need
        not re-run a table's two dozen CREATE/ALTER ... IF NOT EXISTS statements per write."""
        return getattr(_sessions, "ensured", {}).get(self.path)

    def run_statements(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        ensured = self._ensured_in_session()
        if ensured and _drops(statements):
            ensured.clear()  # a dropped table must be created again by the next write
        with self.connect() as con:
            for sql, params in statements:
                con.execute(sql, list(params))

    def table_exists(self, spec: TableSpec) -> bool:
        self._bring_current([spec])  # a reader may name columns an older table lacks
        with self.connect() as con:
            row = con.execute(
                "SELECT COUNT(*) FROM information_schema.tables "
                "WHERE table_name = ? AND table_schema = COALESCE(?, current_schema())",
                [spec.name, spec.schema],
            ).fetchone()
        return bool(row and row[0])

    def query_df(self, sql: str, params: Sequence[Any] | None = None) -> "pd.DataFrame":
        with self.connect() as con:
            return con.execute(sql, list(params or [])).df()

    def existing_columns(self, spec: TableSpec) -> list[str] | None:
        if not self.table_exists(spec):
            return None
        df = self.query_df(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = ? AND table_schema = COALESCE(?, current_schema()) "
            "ORDER BY ordinal_position",
            [spec.name, spec.schema],
        )
        return list(df.column_name)

    def _write_all(self, parts: "Sequence[tuple[TableSpec, pd.DataFrame, Any]]") -> list[int]:
        self._bring_current([spec for spec, _, _ in parts])
        staged = [(spec, _staged_arrow(spec, df), statements) for spec, df, statements in parts]
        ensured = self._ensured_in_session()
        if ensured and any(_drops(statements) for _, _, statements in parts):
            ensured.clear()  # a migration drops and recreates its table
        changed = []
        with self.connect() as con:
            for spec, _, _ in staged:
                if ensured is not None and spec.name in ensured:
                    continue
                for statement in ddl(spec, DUCKDB):
                    con.execute(statement)
            con.execute("BEGIN TRANSACTION")
            try:
                for spec, table_rows, statements in staged:
                    table = spec.qualified(DUCKDB)
                    # An Arrow table: DuckDB scans its typed buffers directly instead of
                    # converting pandas object columns value by value.
                    con.register(self.staged, table_rows)
                    # fetchall: a result left unfinished would block unregister below. (After a
                    # failure the connection is closed unregistered: unregister would fail in the
                    # aborted transaction and hide the error.)
                    before = con.execute(f"SELECT COUNT(*) FROM {table}").fetchall()[0][0]
                    deleted = 0
                    for sql, params in statements:
                        result = con.execute(sql, params).fetchall()
                        if sql.startswith("DELETE") and result:
                            deleted += int(result[0][0])
                    after = con.execute(f"SELECT COUNT(*) FROM {table}").fetchall()[0][0]
                    con.unregister(self.staged)
                    changed.append(int(after - before + deleted))
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        if ensured is not None:
            ensured.update(spec.name for spec, _, _ in staged)
        return changed


def _staged_arrow(spec: TableSpec, rows: "pd.DataFrame | pa.Table") -> "pa.Table":
    """The rows to stage for ``spec`` as an Arrow table (a DataFrame is conformed first)."""
    return checked_arrow(spec, rows) if is_arrow(rows) else _arrow_table(spec.conform(rows))


def _drops(statements: Sequence[tuple[str, Any]]) -> bool:
    return any(sql.lstrip().upper().startswith("DROP") for sql, _ in statements)
