"""The SQL the warehouse runs, built from a ``TableSpec`` and a dialect (pure: no Dagster).

Every builder takes the dialect's name and looks up what differs in
``resources.warehouse.dialects``, so the Azure SQL statements are tested without a server
(tests/unit/test_warehouse.py parses them with sqlglot).
"""

from collections.abc import Iterator, Sequence
from typing import Any

from resources.warehouse.dialects import TSQL, get_dialect, quote
from resources.warehouse.schema import TableSpec


def ddl(spec: TableSpec, dialect: str) -> list[str]:
    """The statements that create ``spec`` (schema, table, added columns, indexes) if absent."""
    spoken = get_dialect(dialect)
    cols = []
    for c in spec.columns:
        null = "" if c.nullable and c.name not in spec.primary_key else " NOT NULL"
        cols.append(f"{spoken.quote(c.name)} {c.sql_type(dialect)}{null}")
    if spec.primary_key:
        pk = ", ".join(spoken.quote(k) for k in spec.primary_key)
        cols.append(f"PRIMARY KEY ({pk})")
    names = {"table": spec.qualified(dialect), "object": _object_name(spec)}
    statements = []
    if spec.schema:
        statements.append(
            spoken.create_schema.format(schema=spoken.quote(spec.schema), schema_name=spec.schema)
        )
    statements.append(spoken.create_table.format(body=",\n    ".join(cols), **names))
    by_name = {c.name: c for c in spec.columns}
    for name in spec.added_columns:
        column = f"{spoken.quote(name)} {by_name[name].sql_type(dialect)}"
        statements.append(spoken.add_column.format(name=name, column=column, **names))
    for i, index_cols in enumerate(spec.indexes):
        index = f"ix_{spec.name}_{i}"
        statements.append(
            spoken.create_index.format(
                name=index,
                index=spoken.quote(index),
                columns=", ".join(spoken.quote(c) for c in index_cols),
                **names,
            )
        )
    return statements


def _object_name(spec: TableSpec) -> str:
    """``schema.name`` as T-SQL's catalog functions (OBJECT_ID, COL_LENGTH) take it."""
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
    """Delete the rows whose primary key is in the staged table."""
    key_match = " AND ".join(
        f"t.{quote(k, dialect)} = s.{quote(k, dialect)}" for k in spec.primary_key
    )
    return get_dialect(dialect).delete_keys.format(
        table=spec.qualified(dialect), staged=staged, key_match=key_match
    )


def insert_all_sql(spec: TableSpec, staged: str, dialect: str) -> str:
    """Insert every staged row."""
    cols = ", ".join(quote(c, dialect) for c in spec.column_names)
    return f"INSERT INTO {spec.qualified(dialect)} ({cols}) SELECT {cols} FROM {staged}"


# T-SQL limits: a table value constructor takes at most 1000 rows, a request at most 2100
# parameters.
TSQL_MAX_ROWS_PER_INSERT = 1000
TSQL_MAX_PARAMS = 2100


def row_limit(n: int, dialect: str) -> tuple[str, str]:
    """``(after_select, after_order_by)`` that keep the first ``n`` rows of a SELECT: T-SQL's
    ``TOP (n) `` or DuckDB's `` LIMIT n``; the other part is empty."""
    spoken = get_dialect(dialect)
    return spoken.top.format(n=int(n)), spoken.limit.format(n=int(n))


def head_sql(spec: TableSpec, columns: Sequence[str], order_by: str, n: int, dialect: str) -> str:
    """The first ``n`` rows of ``columns`` in ``order_by`` order."""
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
