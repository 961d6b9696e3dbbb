"""Shared pieces of the fault-injection suite: snapshots of everything the platform leaves behind
and a comparison that names what a faulted run lost, duplicated or left stale.

A snapshot is ``{name: DataFrame}``: one entry per warehouse table (every table and view of the
DuckDB file, dbt models included) and one ``blobs`` entry listing every blob of every container
with a digest of its content. Values that legitimately differ between two correct runs are left
out: timestamps (``*_at``, last-modified), run ids and blob etags (the local store derives them
from modification times). Parquet blobs are digested by their rows without those columns, so a
manifest rewritten with a new ``classified_at`` still matches.
"""

import hashlib
import io
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import duckdb
import pandas as pd

# reused: whether a result was recomputed or taken from an identical image (history, not content)
VOLATILE_COLUMNS = {"etag", "run_id", "dagster_run_id", "reused"}
_TIME_TYPES = ("TIMESTAMP", "TIME", "INTERVAL")
FLOAT_DIGITS = 6


def _stable(df: pd.DataFrame, replace: dict[str, str] | None = None) -> pd.DataFrame:
    """Drop volatile columns, normalise values, sort rows: equal content gives equal frames."""
    keep = [
        c
        for c in df.columns
        if c not in VOLATILE_COLUMNS
        and not str(c).endswith("_at")
        and not pd.api.types.is_datetime64_any_dtype(df[c])
    ]
    df = df[sorted(keep)].copy()
    for column in df.columns:
        values = df[column]
        if pd.api.types.is_float_dtype(values):
            df[column] = values.round(FLOAT_DIGITS)
        elif values.dtype == object:
            df[column] = values.map(lambda v: _normalise(v, replace))
    df = df.astype(object).where(df.notna(), None)
    return df.sort_values(list(df.columns), key=lambda s: s.map(repr)).reset_index(drop=True)


def _normalise(value, replace: dict[str, str] | None):
    if isinstance(value, str) and replace:
        for old, new in replace.items():
            value = value.replace(old, new)
    elif isinstance(value, float):
        value = round(value, FLOAT_DIGITS)
    return value


def warehouse_snapshot(path: str | Path, replace: dict[str, str] | None = None) -> dict:
    """Every table and view of a DuckDB warehouse, volatile columns dropped, rows sorted."""
    out = {}
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema, table_name, table_type FROM information_schema.tables "
            "WHERE table_schema NOT IN ('information_schema', 'pg_catalog') "
            "ORDER BY table_schema, table_name"
        ).fetchall()
        for schema, name, _ in tables:
            columns = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                [schema, name],
            ).fetchall()
            wanted = [
                c for c, t in columns if not any(t.upper().startswith(x) for x in _TIME_TYPES)
            ]
            cols = ", ".join(f'"{c}"' for c in wanted)
            df = con.execute(f'SELECT {cols} FROM "{schema}"."{name}"').df()
            key = name if schema == "main" else f"{schema}.{name}"
            out[key] = _stable(df, replace)
    return out


def table_snapshot(warehouse, name: str) -> pd.DataFrame:
    """One table through the platform's Warehouse resource (empty frame when absent)."""
    from assets import tables

    spec = next(
        s
        for s in vars(tables).values()
        if getattr(s, "name", None) == name and hasattr(s, "columns")
    )
    return _stable(warehouse.read_table(spec))


def _content_digest(name: str, data: bytes) -> str:
    if name.endswith(".parquet"):
        df = _stable(pd.read_parquet(io.BytesIO(data)))
        return "rows:" + hashlib.sha256(df.to_csv(index=False).encode()).hexdigest()[:16]
    return hashlib.sha256(data).hexdigest()[:16]


def blob_snapshot(store, containers: Iterable[str] | None = None) -> pd.DataFrame:
    """Every blob (container, name, size, content digest) of the store's containers."""
    if containers is None:
        containers = _containers(store)
    rows = []
    for container in sorted(containers):
        for info in store.list_blobs(container):
            data = store.read_bytes(container, info.name)
            rows.append(
                {
                    "container": container,
                    "name": info.name,
                    "size": len(data),
                    "digest": _content_digest(info.name, data),
                }
            )
    return pd.DataFrame(rows, columns=["container", "name", "size", "digest"]).sort_values(
        ["container", "name"], ignore_index=True
    )


def _containers(store) -> list[str]:
    if hasattr(store, "root"):
        root = Path(store.root)
        return [p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return [c.name for c in store._service().list_containers()]


def snapshot(
    warehouse_path: str | Path,
    store,
    replace: dict[str, str] | None = None,
    containers: Iterable[str] | None = None,
) -> dict:
    """Every warehouse table plus the blob listing: what a run leaves behind."""
    out = warehouse_snapshot(warehouse_path, replace)
    out["blobs"] = blob_snapshot(store, containers)
    return out


def differences(clean: dict, faulted: dict) -> dict[str, dict[str, int]]:
    """Per table, rows the faulted run lost, duplicated or left stale (not in the clean run)."""
    report = {}
    for name in sorted(set(clean) | set(faulted)):
        if name not in faulted:
            report[name] = {"missing_table": 1, "lost": len(clean[name])}
            continue
        if name not in clean:
            report[name] = {"extra_table": 1, "stale": len(faulted[name])}
            continue
        a, b = clean[name], faulted[name]
        if list(a.columns) != list(b.columns):
            report[name] = {"columns_differ": 1}
            continue
        ca = Counter(map(tuple, a.astype(object).itertuples(index=False, name=None)))
        cb = Counter(map(tuple, b.astype(object).itertuples(index=False, name=None)))
        lost = sum((ca - cb)[row] for row in ca if row not in cb)
        stale = sum(cb[row] for row in cb if row not in ca)
        duplicated = sum(cb[row] - ca[row] for row in cb if row in ca and cb[row] > ca[row])
        short = sum(ca[row] - cb[row] for row in ca if row in cb and ca[row] > cb[row])
        if lost or stale or duplicated or short:
            report[name] = {
                "lost": lost + short,
                "duplicated": duplicated,
                "stale": stale,
            }
    return report


def assert_same(clean: dict, faulted: dict) -> None:
    """0 lost, 0 duplicated and 0 stale rows and blobs against the clean run."""
    report = differences(clean, faulted)
    if report:
        lines = []
        for name, counts in report.items():
            lines.append(f"{name}: {counts}")
            if name in clean and name in faulted and "columns_differ" not in counts:
                merged = clean[name].merge(faulted[name], how="outer", indicator=True)
                odd = merged[merged._merge != "both"].head(5)
                lines.append(odd.to_string(max_colwidth=60))
        raise AssertionError("the faulted run differs from the clean run:\n" + "\n".join(lines))
