"""The Azure SQL warehouse (prod), through the ``mssql-python`` driver."""

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from resources.warehouse.base import Warehouse, _python_value, checked_arrow, is_arrow
from resources.warehouse.dialects import STAGED_TSQL, TSQL, quote
from resources.warehouse.schema import TableSpec
from resources.warehouse.sql import (
    TSQL_MAX_ROWS_PER_INSERT,
    _object_name,
    ddl,
    tsql_insert_values_sql,
    tsql_stage_batches,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


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

    def _open(self, read_only: bool) -> Any:
        """``read_only`` is DuckDB's file mode; on Azure SQL the login's permissions decide."""
        import mssql_python  # production-only dependency: `uv sync --group prod`

        return mssql_python.connect(self.connection_string())

    def run_statements(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        with self.connect() as con:
            cur = con.cursor()
            for sql, params in statements:
                cur.execute(sql, list(params))
            con.commit()

    def table_exists(self, spec: TableSpec) -> bool:
        import pandas as pd

        self._bring_current([spec])  # a reader may name columns an older table lacks
        df = self.query_df("SELECT OBJECT_ID(?, N'U') AS oid", [_object_name(spec)])
        return bool(len(df) and pd.notna(df.oid[0]))

    def existing_columns(self, spec: TableSpec) -> list[str] | None:
        if not self.table_exists(spec):
            return None
        df = self.query_df(
            "SELECT name FROM sys.columns WHERE object_id = OBJECT_ID(?, N'U') ORDER BY column_id",
            [_object_name(spec)],
        )
        return list(df.name)

    def query_df(self, sql: str, params: Sequence[Any] | None = None) -> "pd.DataFrame":
        import pandas as pd

        with self.connect() as con:
            cur = con.cursor()
            cur.execute(sql, list(params or []))
            columns = [d[0] for d in cur.description]
            return pd.DataFrame.from_records(cur.fetchall(), columns=columns)

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
                    rows = [tuple(_python_value(v) for v in row) for row in _row_tuples(spec, df)]
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


def _row_tuples(spec: TableSpec, rows: "pd.DataFrame | pa.Table") -> Iterable[tuple]:
    """The staged rows as tuples in ``spec``'s column order, from a DataFrame or Arrow rows."""
    if is_arrow(rows):
        columns = [column.to_pylist() for column in checked_arrow(spec, rows).columns]
        return zip(*columns, strict=True)
    return spec.conform(rows).itertuples(index=False)
