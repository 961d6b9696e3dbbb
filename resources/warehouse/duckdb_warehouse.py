"""The DuckDB warehouse (local and ci): one file, one writer at a time."""

import random
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from resources.warehouse.base import Warehouse, _arrow_table
from resources.warehouse.dialects import DUCKDB
from resources.warehouse.schema import TableSpec
from resources.warehouse.sql import ddl

if TYPE_CHECKING:
    import pandas as pd

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
        with super().connect() as con:
            connections[self.path] = con
            try:
                yield
            finally:
                del connections[self.path]

    def run_statements(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
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
        parts = [(spec, spec.conform(df), statements) for spec, df, statements in parts]
        changed = []
        with self.connect() as con:
            for spec, _, _ in parts:
                for statement in ddl(spec, DUCKDB):
                    con.execute(statement)
            con.execute("BEGIN TRANSACTION")
            try:
                for spec, df, statements in parts:
                    table = spec.qualified(DUCKDB)
                    # An Arrow table: DuckDB scans its typed buffers directly instead of
                    # converting pandas object columns value by value.
                    con.register(self.staged, _arrow_table(df))
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
        return changed
