"""The warehouse behind one interface: DuckDB (local, ci) and Azure SQL (prod).

Assets describe their tables once (``TableSpec``) and write DataFrames through three idempotent
operations, each one transaction:

* ``insert_new``   — insert only rows whose primary key is not in the table yet (catalog, hashes);
* ``replace_where`` — delete the rows of one partition (``column = value``) and insert the new ones
                      (nightly outputs: re-running a day replaces exactly that day);
* ``upsert``       — replace rows by primary key;
* ``replace_partition`` — ``replace_where`` on several tables in ONE transaction (a night's
                      predictions and probabilities: readers never see one without the other).

The SQL for each dialect is produced by pure functions (``ddl``, ``insert_new_sql``,
``tsql_stage_batches`` …), so the Azure SQL statements are tested here without a server.

Bulk paths: DuckDB scans the batch as a registered Arrow table (zero-copy, typed strings and
timestamps). Azure SQL stages the batch into a session ``#temp`` table with multi-row
``INSERT … VALUES`` statements — at most 1000 rows and 2100 parameters each, T-SQL's limits — on the
same connection and inside the same transaction as the set-based statement that moves the rows, so
a write is atomic and a retried write (same partition, same keys) leaves the same rows.
"""

import hashlib
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import dagster as dg
from pydantic import Field, PrivateAttr

if TYPE_CHECKING:  # pandas is imported by the methods that use it, not with the code location
    import pandas as pd

DUCKDB = "duckdb"
TSQL = "tsql"
STAGED_TSQL = "#staged__"  # a session temp table: private to the connection, dropped with it

_TYPES = {
    # logical: (duckdb, tsql)
    "string": ("VARCHAR", "NVARCHAR(MAX)"),
    "int64": ("BIGINT", "BIGINT"),
    "int32": ("INTEGER", "INT"),
    "float64": ("DOUBLE", "FLOAT"),
    "bool": ("BOOLEAN", "BIT"),
    "timestamp": ("TIMESTAMPTZ", "DATETIMEOFFSET(6)"),
    "date": ("DATE", "DATE"),
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str = ""
    nullable: bool = True
    length: int | None = None  # bounded strings (key columns) in T-SQL
    # The SHA-256 (hex) of another column's UTF-8 text, filled in on every write: a short key
    # for a long value (URIs up to thousands of bytes against Azure SQL's 900-byte index keys).
    derived_from: str | None = None

    def sql_type(self, dialect: str) -> str:
        duck, tsql = _TYPES[self.type]
        if dialect == TSQL and self.type == "string" and self.length:
            return f"NVARCHAR({self.length})"
        return duck if dialect == DUCKDB else tsql


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    description: str = ""
    schema: str | None = None
    indexes: tuple[tuple[str, ...], ...] = field(default=())
    # Nullable columns added after the table first shipped: an existing table gets them (empty)
    # the next time it is ensured, so a warehouse never needs rebuilding for a new column.
    added_columns: tuple[str, ...] = field(default=())
    # A table whose migration needs more than computing derived keys (e.g. a new key that older
    # rows collide on): only the named asset migrates it, everyone else leaves it alone.
    migrated_by: str | None = None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def qualified(self, dialect: str) -> str:
        return ".".join(quote(p, dialect) for p in (self.schema, self.name) if p)

    def table_schema(self) -> dg.TableSchema:
        return dg.TableSchema(
            columns=[
                dg.TableColumn(
                    c.name,
                    c.type,
                    description=c.description or None,
                    constraints=dg.TableColumnConstraints(
                        nullable=c.nullable, unique=self.primary_key == (c.name,)
                    ),
                )
                for c in self.columns
            ]
        )

    def frame(self, rows: Sequence[Mapping[str, Any]]) -> "pd.DataFrame":
        """Rows (dicts) as a DataFrame whose integer columns keep every value exactly.

        ``pd.DataFrame(rows)`` turns an integer column with a missing value into float64, which
        cannot hold a 64-bit hash (2**53 and up lose their low bits); here integer columns are
        nullable integers built straight from the Python values.
        """
        import pandas as pd

        df = pd.DataFrame(list(rows))
        for column in self.columns:
            if column.type in ("int64", "int32") and column.name in df.columns:
                values = [None if pd.isna(r.get(column.name)) else r[column.name] for r in rows]
                df[column.name] = pd.array(values, dtype="Int64")
        return df

    def conform(self, df: "pd.DataFrame") -> "pd.DataFrame":
        """Select and order the spec's columns, computing derived key columns; fail loudly on a
        missing one."""
        derived = {}
        for c in self.columns:
            if c.derived_from and c.derived_from in df.columns:
                computed = df[c.derived_from].map(key_hash, na_action="ignore")
                given = df[c.name] if c.name in df.columns else None
                derived[c.name] = (
                    computed if given is None else given.where(given.notna(), computed)
                )
        if derived:
            df = df.assign(**derived)
        missing = [c for c in self.column_names if c not in df.columns]
        if missing:
            raise ValueError(f"{self.name}: DataFrame lacks columns {missing}")
        return df[self.column_names]


def key_hash(text: str) -> str:
    """The key of a long text (a URI): SHA-256 of its UTF-8 bytes, 64 hex digits."""
    return hashlib.sha256(str(text).encode("utf-8", "surrogateescape")).hexdigest()


def quote(identifier: str, dialect: str) -> str:
    if dialect == TSQL:
        return "[" + identifier.replace("]", "]]") + "]"
    return '"' + identifier.replace('"', '""') + '"'


def ddl(spec: TableSpec, dialect: str) -> list[str]:
    cols = []
    for c in spec.columns:
        null = "" if c.nullable and c.name not in spec.primary_key else " NOT NULL"
        cols.append(f"{quote(c.name, dialect)} {c.sql_type(dialect)}{null}")
    if spec.primary_key:
        pk = ", ".join(quote(k, dialect) for k in spec.primary_key)
        cols.append(f"PRIMARY KEY ({pk})")
    body = ",\n    ".join(cols)
    table = spec.qualified(dialect)
    statements = []
    if dialect == TSQL:
        if spec.schema:
            statements.append(
                f"IF SCHEMA_ID(N'{spec.schema}') IS NULL EXEC(N'CREATE SCHEMA "
                f"{quote(spec.schema, dialect)}')"
            )
        statements.append(
            f"IF OBJECT_ID(N'{_tsql_object_name(spec)}', N'U') IS NULL\n"
            f"CREATE TABLE {table} (\n    {body}\n)"
        )
    else:
        if spec.schema:
            statements.append(f"CREATE SCHEMA IF NOT EXISTS {quote(spec.schema, dialect)}")
        statements.append(f"CREATE TABLE IF NOT EXISTS {table} (\n    {body}\n)")
    by_name = {c.name: c for c in spec.columns}
    for name in spec.added_columns:
        column = by_name[name]
        col_sql = f"{quote(name, dialect)} {column.sql_type(dialect)}"
        if dialect == TSQL:
            statements.append(
                f"IF COL_LENGTH(N'{_tsql_object_name(spec)}', N'{name}') IS NULL\n"
                f"ALTER TABLE {table} ADD {col_sql} NULL"
            )
        else:
            statements.append(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {col_sql}")
    for i, index_cols in enumerate(spec.indexes):
        name = f"ix_{spec.name}_{i}"
        cols_sql = ", ".join(quote(c, dialect) for c in index_cols)
        if dialect == TSQL:
            statements.append(
                f"IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'{name}')\n"
                f"CREATE INDEX {quote(name, dialect)} ON {table} ({cols_sql})"
            )
        else:
            statements.append(
                f"CREATE INDEX IF NOT EXISTS {quote(name, dialect)} ON {table} ({cols_sql})"
            )
    return statements


def _tsql_object_name(spec: TableSpec) -> str:
    return f"{spec.schema or 'dbo'}.{spec.name}"


def insert_new_sql(spec: TableSpec, staged: str, dialect: str) -> str:
    """Insert staged rows whose primary key is absent from the table (and dedupe the stage)."""
    if not spec.primary_key:
        raise ValueError(f"{spec.name} has no primary key: insert_new needs one")
    cols = ", ".join(quote(c, dialect) for c in spec.column_names)
    key_match = " AND ".join(
        f"t.{quote(k, dialect)} = s.{quote(k, dialect)}" for k in spec.primary_key
    )
    partition = ", ".join(quote(k, dialect) for k in spec.primary_key)
    return (
        f"INSERT INTO {spec.qualified(dialect)} ({cols})\n"
        f"SELECT {cols} FROM (\n"
        f"    SELECT *, ROW_NUMBER() OVER (\n"
        f"        PARTITION BY {partition} ORDER BY (SELECT NULL)) AS rn__\n"
        f"    FROM {staged}\n"
        f") s\n"
        f"WHERE s.rn__ = 1 AND NOT EXISTS (\n"
        f"    SELECT 1 FROM {spec.qualified(dialect)} t WHERE {key_match}\n"
        f")"
    )


def delete_where_sql(spec: TableSpec, columns: Sequence[str], dialect: str, param: str) -> str:
    """Delete one partition; with no columns, every row (a full refresh)."""
    if not columns:
        return f"DELETE FROM {spec.qualified(dialect)}"
    cond = " AND ".join(f"{quote(c, dialect)} = {param}" for c in columns)
    return f"DELETE FROM {spec.qualified(dialect)} WHERE {cond}"


def delete_keys_sql(spec: TableSpec, staged: str, dialect: str) -> str:
    key_match = " AND ".join(
        f"t.{quote(k, dialect)} = s.{quote(k, dialect)}" for k in spec.primary_key
    )
    if dialect == TSQL:
        return (
            f"DELETE t FROM {spec.qualified(dialect)} t "
            f"WHERE EXISTS (SELECT 1 FROM {staged} s WHERE {key_match})"
        )
    return (
        f"DELETE FROM {spec.qualified(dialect)} t "
        f"WHERE EXISTS (SELECT 1 FROM {staged} s WHERE {key_match})"
    )


def insert_all_sql(spec: TableSpec, staged: str, dialect: str) -> str:
    cols = ", ".join(quote(c, dialect) for c in spec.column_names)
    return f"INSERT INTO {spec.qualified(dialect)} ({cols}) SELECT {cols} FROM {staged}"


# T-SQL limits: a table value constructor takes at most 1000 rows, a request at most 2100
# parameters.
TSQL_MAX_ROWS_PER_INSERT = 1000
TSQL_MAX_PARAMS = 2100


def row_limit(n: int, dialect: str) -> tuple[str, str]:
    """``(after_select, after_order_by)`` that keep the first ``n`` rows of a SELECT: T-SQL's
    ``TOP (n) `` or DuckDB's `` LIMIT n``; the other part is empty."""
    if dialect == TSQL:
        return f"TOP ({int(n)}) ", ""
    return "", f" LIMIT {int(n)}"


def head_sql(spec: TableSpec, columns: Sequence[str], order_by: str, n: int, dialect: str) -> str:
    cols = ", ".join(quote(c, dialect) for c in columns)
    top, limit = row_limit(n, dialect)
    return f"SELECT {top}{cols} FROM {spec.qualified(dialect)} ORDER BY {order_by}{limit}"


def tsql_rows_per_insert(n_columns: int) -> int:
    """Rows per multi-row INSERT for a table of ``n_columns`` columns under both T-SQL limits."""
    if n_columns < 1:
        raise ValueError("a staged table needs at least one column")
    if n_columns > TSQL_MAX_PARAMS:
        raise ValueError(f"{n_columns} columns exceed T-SQL's {TSQL_MAX_PARAMS} parameters")
    return max(1, min(TSQL_MAX_ROWS_PER_INSERT, TSQL_MAX_PARAMS // n_columns))


def tsql_insert_values_sql(spec: TableSpec, staged: str, n_rows: int) -> str:
    """``INSERT INTO staged (cols) VALUES (?, …), (?, …)`` for ``n_rows`` rows."""
    names = ", ".join(quote(c, TSQL) for c in spec.column_names)
    row = "(" + ", ".join("?" for _ in spec.columns) + ")"
    return f"INSERT INTO {staged} ({names}) VALUES " + ", ".join([row] * n_rows)


def tsql_stage_batches(
    spec: TableSpec, staged: str, rows: Sequence[tuple], rows_per_insert: int | None = None
) -> Iterator[tuple[str, list[Any]]]:
    """The staging inserts for ``rows``: (statement, flat parameter list) pairs.

    Every full batch shares one statement text (the driver prepares it once); only the last batch
    is shorter.
    """
    n_cols = len(spec.columns)
    per = tsql_rows_per_insert(n_cols)
    if rows_per_insert is not None:
        per = max(1, min(per, rows_per_insert))
    full = tsql_insert_values_sql(spec, staged, per)
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        params: list[Any] = []
        for row in chunk:
            if len(row) != n_cols:
                raise ValueError(f"{spec.name}: a row has {len(row)} values, expected {n_cols}")
            params.extend(row)
        sql = full if len(chunk) == per else tsql_insert_values_sql(spec, staged, len(chunk))
        yield sql, params


def _python_value(value: Any) -> Any:
    """A driver-friendly scalar: None for missing values, Python types for numpy/pandas ones."""
    import pandas as pd

    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def _arrow_table(df: "pd.DataFrame"):
    import pyarrow as pa

    return pa.Table.from_pandas(df, preserve_index=False)


class Warehouse(dg.ConfigurableResource):
    """Interface; see the module docstring."""

    dialect: ClassVar[str] = ""
    staged: ClassVar[str] = ""  # the name writes stage their rows under

    _current: set = PrivateAttr(default_factory=set)  # tables checked against their spec

    def _bring_current(self, specs: Sequence[TableSpec]) -> None:
        """Once per table and process: a table written before its spec gained a derived key
        column is migrated (``migrate``) before the first write."""
        for spec in specs:
            if spec.name in self._current:
                continue
            self._current.add(spec.name)
            if spec.migrated_by is None and any(c.derived_from for c in spec.columns):
                self.migrate(spec)

    def ensure_table(self, spec: TableSpec) -> None:
        raise NotImplementedError

    def query_df(self, sql: str, params: Sequence[Any] | None = None) -> "pd.DataFrame":
        raise NotImplementedError

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        raise NotImplementedError

    def table_exists(self, spec: TableSpec) -> bool:
        raise NotImplementedError

    def _write_all(self, parts: "Sequence[tuple[TableSpec, pd.DataFrame, Any]]") -> list[int]:
        """For each ``(spec, df, statements)`` in turn: stage ``df`` as ``self.staged`` and run
        ``statements`` against it — all parts in ONE transaction. Returns the rows each part
        changed."""
        raise NotImplementedError

    def _write(self, spec: TableSpec, df: "pd.DataFrame", statements) -> int:
        return self._write_all([(spec, df, statements)])[0]

    def existing_columns(self, spec: TableSpec) -> list[str] | None:
        """The columns the table has now, or None when it does not exist."""
        raise NotImplementedError

    def write_parts(self, parts: "Sequence[tuple[TableSpec, pd.DataFrame, Any]]") -> list[int]:
        """Several staged writes in ONE transaction: ``(spec, df, statements)`` each, where the
        statements read ``df`` as ``self.staged`` (see ``delete_keys_sql``, ``insert_all_sql``,
        ``insert_new_sql``). Empty frames are skipped."""
        kept = [part for part in parts if len(part[1])]
        return self._write_all(kept) if kept else []

    def migrate(
        self,
        spec: TableSpec,
        reshape: Any = None,
        also: "Sequence[tuple[TableSpec, pd.DataFrame, Any]]" = (),
    ) -> bool:
        """Bring an existing table to ``spec`` (new columns, a new key) in one transaction: its
        rows are read, passed through ``reshape`` (default: ``spec.conform``, which computes
        derived key columns) and written into the table created anew; ``also`` joins the same
        transaction. Returns False when the table is absent or already current."""
        self._current.update(s.name for s in (spec, *(p[0] for p in also)))
        have = self.existing_columns(spec)
        if have is None or set(spec.column_names) <= set(have):
            return False
        table = spec.qualified(self.dialect)
        old = self.query_df(f"SELECT * FROM {table}")
        new = reshape(old) if reshape is not None else spec.conform(old)
        statements = [
            (f"DROP TABLE {table}", []),
            *((sql, []) for sql in ddl(spec, self.dialect)),
            (insert_all_sql(spec, self.staged, self.dialect), []),
        ]
        self._write_all([*[p for p in also if len(p[1])], (spec, new, statements)])
        return True

    def insert_new(self, spec: TableSpec, df: "pd.DataFrame") -> int:
        return self._write(spec, df, [(insert_new_sql(spec, self.staged, self.dialect), [])])

    def _replace_statements(self, spec: TableSpec, where: dict[str, Any]) -> list:
        cols = list(where)
        return [
            (delete_where_sql(spec, cols, self.dialect, "?"), [where[c] for c in cols]),
            (insert_all_sql(spec, self.staged, self.dialect), []),
        ]

    def replace_where(self, spec: TableSpec, df: "pd.DataFrame", where: dict[str, Any]) -> int:
        return self._write(spec, df, self._replace_statements(spec, where))

    def replace_partition(
        self, tables: "Sequence[tuple[TableSpec, pd.DataFrame]]", where: dict[str, Any]
    ) -> list[int]:
        """``replace_where`` on every table, in one transaction: a failure (or a kill) leaves
        every table as it was, a success replaces the partition in all of them at once."""
        return self._write_all(
            [(spec, df, self._replace_statements(spec, where)) for spec, df in tables]
        )

    def upsert(self, spec: TableSpec, df: "pd.DataFrame") -> int:
        return self._write(
            spec,
            df,
            [
                (delete_keys_sql(spec, self.staged, self.dialect), []),
                (insert_all_sql(spec, self.staged, self.dialect), []),
            ],
        )

    def delete_keys(self, spec: TableSpec, df: "pd.DataFrame") -> None:
        """Delete the rows whose primary key is in ``df`` (one transaction)."""
        self._write(spec, df, [(delete_keys_sql(spec, self.staged, self.dialect), [])])

    def read_table(self, spec: TableSpec, columns: Sequence[str] | None = None) -> "pd.DataFrame":
        import pandas as pd

        if not self.table_exists(spec):
            return pd.DataFrame(columns=list(columns or spec.column_names))
        cols = ", ".join(quote(c, self.dialect) for c in (columns or spec.column_names))
        return self.query_df(f"SELECT {cols} FROM {spec.qualified(self.dialect)}")

    def head(
        self, spec: TableSpec, columns: Sequence[str], order_by: str, n: int = 10
    ) -> "pd.DataFrame":
        """The first ``n`` rows by ``order_by`` (an SQL ordering over ``spec``'s columns), read
        without fetching the table."""
        import pandas as pd

        if not self.table_exists(spec):
            return pd.DataFrame(columns=list(columns))
        return self.query_df(head_sql(spec, columns, order_by, int(n), self.dialect))

    def count(self, spec: TableSpec) -> int:
        if not self.table_exists(spec):
            return 0
        return int(self.query_df(f"SELECT COUNT(*) AS n FROM {spec.qualified(self.dialect)}").n[0])


class DuckDBWarehouse(Warehouse):
    """A DuckDB file. DuckDB allows one writing process at a time: writers are serialised by the
    ``duckdb`` concurrency pool in Dagster, and a short retry covers a lock held by a reader."""

    dialect: ClassVar[str] = DUCKDB
    staged: ClassVar[str] = "staged__"

    path: str = Field(description="Path of the DuckDB database file.")
    lock_timeout_s: float = Field(default=60.0, description="How long to wait for the file lock.")

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[Any]:
        import duckdb

        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout_s
        while True:
            try:
                con = duckdb.connect(self.path, read_only=read_only)
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.1 + random.random() * 0.4)
        try:
            yield con
        finally:
            con.close()

    def ensure_table(self, spec: TableSpec) -> None:
        self._bring_current([spec])
        with self.connect() as con:
            for statement in ddl(spec, DUCKDB):
                con.execute(statement)

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

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        with self.connect() as con:
            con.execute(sql, list(params or []))

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


def odbc_value(value: str, always: bool = False) -> str:
    """One value of an ODBC connection string: braced (``{...}``, a ``}`` doubled) when it holds
    ``;``, braces, ``=`` or surrounding spaces — or ``always`` (passwords) — so a value can never
    end its attribute and start another."""
    text = str(value)
    if always or any(ch in text for ch in ";{}=") or text != text.strip():
        return "{" + text.replace("}", "}}") + "}"
    return text


class AzureSqlWarehouse(Warehouse):
    """Azure SQL Database through the ``mssql-python`` driver (bundles ODBC Driver 18).

    Rows are staged into a session temp table with multi-row ``INSERT … VALUES`` batches and moved
    with one set-based statement, all in one transaction, so every write is idempotent and atomic.
    (The driver's ``bulkcopy`` opens its own connection, which can neither see a session temp table
    nor join this transaction, so it is not used here.) Credentials come only from ``dg.EnvVar``.
    """

    dialect: ClassVar[str] = TSQL
    staged: ClassVar[str] = STAGED_TSQL

    server: str = Field(description="e.g. myserver.database.windows.net")
    database: str
    user: str | None = None
    password: str | None = None
    authentication: str = Field(
        default="SqlPassword",
        description="SqlPassword, or ActiveDirectoryDefault / ActiveDirectoryMsi for Entra ID.",
    )
    batch_size: int = Field(
        default=TSQL_MAX_ROWS_PER_INSERT,
        description="Upper bound on rows per staging INSERT (T-SQL's limits apply below it).",
    )

    def connection_string(self) -> str:
        parts = [
            f"Server={odbc_value('tcp:' + self.server + ',1433')}",
            f"Database={odbc_value(self.database)}",
            "Encrypt=yes",
            "TrustServerCertificate=no",
            f"Authentication={odbc_value(self.authentication)}",
        ]
        if self.user:
            parts.append(f"UID={odbc_value(self.user)}")
        if self.password:
            parts.append(f"PWD={odbc_value(self.password, always=True)}")
        return ";".join(parts)

    @contextmanager
    def connect(self) -> Iterator[Any]:
        import mssql_python  # production-only dependency: `uv sync --group prod`

        con = mssql_python.connect(self.connection_string())
        try:
            yield con
        finally:
            con.close()

    def ensure_table(self, spec: TableSpec) -> None:
        self._bring_current([spec])
        with self.connect() as con:
            cur = con.cursor()
            for statement in ddl(spec, TSQL):
                cur.execute(statement)
            con.commit()

    def table_exists(self, spec: TableSpec) -> bool:
        import pandas as pd

        self._bring_current([spec])  # a reader may name columns an older table lacks
        df = self.query_df("SELECT OBJECT_ID(?, N'U') AS oid", [_tsql_object_name(spec)])
        return bool(len(df) and pd.notna(df.oid[0]))

    def existing_columns(self, spec: TableSpec) -> list[str] | None:
        if not self.table_exists(spec):
            return None
        df = self.query_df(
            "SELECT name FROM sys.columns WHERE object_id = OBJECT_ID(?, N'U') ORDER BY column_id",
            [_tsql_object_name(spec)],
        )
        return list(df.name)

    def query_df(self, sql: str, params: Sequence[Any] | None = None) -> "pd.DataFrame":
        import pandas as pd

        with self.connect() as con:
            cur = con.cursor()
            cur.execute(sql, list(params or []))
            columns = [d[0] for d in cur.description]
            return pd.DataFrame.from_records(cur.fetchall(), columns=columns)

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        with self.connect() as con:
            con.cursor().execute(sql, list(params or []))
            con.commit()

    def stage_sql(self, spec: TableSpec) -> tuple[str, str]:
        """The session temp table's DDL and its one-row insert (the batch shape is in
        ``tsql_stage_batches``)."""
        cols = ",\n    ".join(f"{quote(c.name, TSQL)} {c.sql_type(TSQL)}" for c in spec.columns)
        return (
            f"DROP TABLE IF EXISTS {STAGED_TSQL};\nCREATE TABLE {STAGED_TSQL} (\n    {cols}\n)",
            tsql_insert_values_sql(spec, STAGED_TSQL, 1),
        )

    def _write_all(self, parts: "Sequence[tuple[TableSpec, pd.DataFrame, Any]]") -> list[int]:
        self._bring_current([spec for spec, _, _ in parts])
        changed = []
        with self.connect() as con:
            cur = con.cursor()
            try:
                for spec, _, _ in parts:
                    for statement in ddl(spec, TSQL):
                        cur.execute(statement)
                # Staging, the set-based moves and the temp table share one connection and one
                # transaction: nothing is visible until the commit, and a failure leaves no rows.
                for spec, df, statements in parts:
                    create_stage, _ = self.stage_sql(spec)
                    rows = [
                        tuple(_python_value(v) for v in row)
                        for row in spec.conform(df).itertuples(index=False)
                    ]
                    cur.execute(create_stage)
                    for sql, params in tsql_stage_batches(spec, STAGED_TSQL, rows, self.batch_size):
                        cur.execute(sql, params)
                    count = 0
                    for sql, params in statements:
                        cur.execute(sql, params)
                        count += max(cur.rowcount, 0)
                    cur.execute(f"DROP TABLE {STAGED_TSQL}")
                    changed.append(count)
                con.commit()
            except BaseException:
                con.rollback()
                raise
        return changed
