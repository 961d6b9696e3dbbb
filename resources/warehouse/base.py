"""The warehouse interface every driver implements, and a table's schema as Dagster shows it."""

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

import dagster as dg
from pydantic import PrivateAttr

from resources.warehouse.dialects import quote
from resources.warehouse.schema import TableSpec
from resources.warehouse.sql import (
    ddl,
    delete_keys_sql,
    delete_where_sql,
    head_sql,
    insert_all_sql,
    insert_new_sql,
)

if TYPE_CHECKING:  # pandas is imported by the methods that use it, not with the code location
    import pandas as pd
    import pyarrow as pa


def table_schema(spec: TableSpec) -> dg.TableSchema:
    """``spec``'s columns as Dagster's ``dagster/column_schema`` metadata."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                c.name,
                c.type,
                description=c.description or None,
                constraints=dg.TableColumnConstraints(
                    nullable=c.nullable, unique=spec.primary_key == (c.name,)
                ),
            )
            for c in spec.columns
        ]
    )


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


def _arrow_table(df: "pd.DataFrame") -> "pa.Table":
    import pyarrow as pa

    return pa.Table.from_pandas(df, preserve_index=False)


def is_arrow(rows: Any) -> bool:
    """Whether ``rows`` (what a write stages) is an Arrow table rather than a DataFrame, without
    importing pyarrow for a DataFrame."""
    return type(rows).__module__.startswith("pyarrow")


def checked_arrow(spec: TableSpec, rows: "pa.Table") -> "pa.Table":
    """Arrow rows staged as they are: they must carry exactly ``spec``'s columns, in order (the
    writer that built them, e.g. ``image_hashes_table``, conforms them; nothing is derived)."""
    if rows.column_names != spec.column_names:
        raise ValueError(
            f"{spec.name}: Arrow rows have columns {rows.column_names}, "
            f"expected {spec.column_names}"
        )
    return rows


class Warehouse(dg.ConfigurableResource, ABC):
    """The warehouse interface; see the package docstring. ``DuckDBWarehouse`` and
    ``AzureSqlWarehouse`` implement the abstract methods."""

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

    @abstractmethod
    def _open(self, read_only: bool) -> Any:
        """A new DB-API connection to the warehouse (``connect`` closes it)."""
        raise NotImplementedError

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[Any]:
        con = self._open(read_only)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def session(self) -> Iterator[None]:
        """A run of small operations by this thread that may share one connection (a driver that
        opens connections cheaply, or pools them, shares nothing: the default)."""
        yield

    @abstractmethod
    def run_statements(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """``(sql, params)`` statements in order on one connection, then committed."""
        raise NotImplementedError

    def ensure_table(self, spec: TableSpec) -> None:
        self._bring_current([spec])
        self.run_statements([(statement, []) for statement in ddl(spec, self.dialect)])

    @abstractmethod
    def query_df(self, sql: str, params: Sequence[Any] | None = None) -> "pd.DataFrame":
        raise NotImplementedError

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        self.run_statements([(sql, params or [])])

    @abstractmethod
    def table_exists(self, spec: TableSpec) -> bool:
        raise NotImplementedError

    @abstractmethod
    def _write_all(self, parts: "Sequence[tuple[TableSpec, pd.DataFrame, Any]]") -> list[int]:
        """For each ``(spec, df, statements)`` in turn: stage ``df`` as ``self.staged`` and run
        ``statements`` against it — all parts in ONE transaction. Returns the rows each part
        changed."""
        raise NotImplementedError

    def _write(
        self, spec: TableSpec, df: "pd.DataFrame", statements: list[tuple[str, list]]
    ) -> int:
        return self._write_all([(spec, df, statements)])[0]

    @abstractmethod
    def existing_columns(self, spec: TableSpec) -> list[str] | None:
        """The columns the table has now, or None when it does not exist."""
        raise NotImplementedError

    def write_parts(self, parts: "Sequence[tuple[TableSpec, pd.DataFrame, Any]]") -> list[int]:
        """Several staged writes in ONE transaction: ``(spec, df, statements)`` each, where the
        statements read ``df`` as ``self.staged`` (see ``delete_keys_sql``, ``insert_all_sql``,
        ``insert_new_sql``). Empty frames are skipped. Any write may stage an Arrow table with
        exactly the spec's columns instead of a DataFrame (``checked_arrow``)."""
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
        statements: list[tuple[str, list]] = [
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
