"""Tables as the platform describes them once: columns, keys, indexes (pure: no Dagster).

A ``TableSpec`` is the one description of a table: the warehouse drivers create and migrate it,
the assets conform their DataFrames to it, and ``resources.warehouse.base.table_schema`` shows it
in Dagster.
"""

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from resources.warehouse.dialects import get_dialect, quote

if TYPE_CHECKING:  # pandas is imported by the methods that use it, not with the code location
    import pandas as pd


@dataclass(frozen=True)
class Column:
    """One column of a warehouse table: name, type, meaning, nullability."""

    name: str
    type: str
    description: str = ""
    nullable: bool = True
    length: int | None = None  # bounded strings (key columns) in T-SQL
    # The SHA-256 (hex) of another column's UTF-8 text, filled in on every write: a short key
    # for a long value (URIs up to thousands of bytes against Azure SQL's 900-byte index keys).
    derived_from: str | None = None

    def sql_type(self, dialect: str) -> str:
        spoken = get_dialect(dialect)
        if self.type == "string" and self.length and spoken.bounded_string:
            return spoken.bounded_string.format(length=self.length)
        return spoken.types[self.type]


@dataclass(frozen=True)
class TableSpec:
    """A warehouse table the Python assets write: columns, keys, indexes, meaning."""

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
