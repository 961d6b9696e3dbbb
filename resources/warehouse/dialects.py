"""The SQL dialects the warehouse speaks, as data (pure: no Dagster, no driver).

Each ``Dialect`` holds what differs between DuckDB and T-SQL: the column types, identifier quoting,
and the statement templates the builders in ``resources.warehouse.sql`` fill in. A builder never
branches on the dialect; it looks the dialect up here.
"""

from collections.abc import Mapping
from dataclasses import dataclass

DUCKDB = "duckdb"
TSQL = "tsql"
STAGED_TSQL = "#staged__"  # a session temp table: private to the connection, dropped with it


@dataclass(frozen=True)
class Dialect:
    """What one SQL dialect needs filled in.

    Templates are ``str.format`` strings: ``{schema}`` (quoted) and ``{schema_name}`` (raw),
    ``{table}`` (qualified and quoted), ``{object}`` (``schema.name`` for catalog functions),
    ``{body}`` (column definitions), ``{column}`` (a quoted column with its type), ``{name}``,
    ``{index}`` (quoted index name), ``{columns}``, ``{staged}`` and ``{key_match}``.
    """

    name: str
    types: Mapping[str, str]  # logical column type -> SQL type
    bounded_string: str | None  # the type of a string column with a length, or None
    quote_open: str
    quote_close: str
    create_schema: str
    create_table: str
    add_column: str
    create_index: str
    delete_keys: str
    top: str  # after SELECT, keeping the first {n} rows
    limit: str  # after ORDER BY, keeping the first {n} rows

    def quote(self, identifier: str) -> str:
        escaped = identifier.replace(self.quote_close, self.quote_close * 2)
        return f"{self.quote_open}{escaped}{self.quote_close}"


DIALECTS: dict[str, Dialect] = {
    DUCKDB: Dialect(
        name=DUCKDB,
        types={
            "string": "VARCHAR",
            "int64": "BIGINT",
            "int32": "INTEGER",
            "float64": "DOUBLE",
            "bool": "BOOLEAN",
            "timestamp": "TIMESTAMPTZ",
            "date": "DATE",
        },
        bounded_string=None,
        quote_open='"',
        quote_close='"',
        create_schema="CREATE SCHEMA IF NOT EXISTS {schema}",
        create_table="CREATE TABLE IF NOT EXISTS {table} (\n    {body}\n)",
        add_column="ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column}",
        create_index="CREATE INDEX IF NOT EXISTS {index} ON {table} ({columns})",
        delete_keys=(
            "DELETE FROM {table} t WHERE EXISTS (SELECT 1 FROM {staged} s WHERE {key_match})"
        ),
        top="",
        limit=" LIMIT {n}",
    ),
    TSQL: Dialect(
        name=TSQL,
        types={
            "string": "NVARCHAR(MAX)",
            "int64": "BIGINT",
            "int32": "INT",
            "float64": "FLOAT",
            "bool": "BIT",
            "timestamp": "DATETIMEOFFSET(6)",
            "date": "DATE",
        },
        bounded_string="NVARCHAR({length})",
        quote_open="[",
        quote_close="]",
        create_schema="IF SCHEMA_ID(N'{schema_name}') IS NULL EXEC(N'CREATE SCHEMA {schema}')",
        create_table=(
            "IF OBJECT_ID(N'{object}', N'U') IS NULL\nCREATE TABLE {table} (\n    {body}\n)"
        ),
        add_column=(
            "IF COL_LENGTH(N'{object}', N'{name}') IS NULL\nALTER TABLE {table} ADD {column} NULL"
        ),
        create_index=(
            "IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'{name}')\n"
            "CREATE INDEX {index} ON {table} ({columns})"
        ),
        delete_keys=(
            "DELETE t FROM {table} t WHERE EXISTS (SELECT 1 FROM {staged} s WHERE {key_match})"
        ),
        top="TOP ({n}) ",
        limit="",
    ),
}


def get_dialect(name: str) -> Dialect:
    """The dialect named ``duckdb`` or ``tsql``; ValueError on others."""
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(f"unknown SQL dialect {name!r}: one of {sorted(DIALECTS)}") from None


def quote(identifier: str, dialect: str) -> str:
    """``identifier`` quoted for ``dialect``."""
    return get_dialect(dialect).quote(identifier)
