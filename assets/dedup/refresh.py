"""Full or incremental: how the dedup tables are refreshed after new images arrive.

A refresh is *incremental* when everything that happened to the catalogue and the hashes since
the last complete refresh was an addition: rows catalogued or hashed after its marks, and no
row at or before the marks removed, overwritten or re-hashed (the counts at the marks are
unchanged), with the same dbt variables and the same models. The dbt models then recompute only
what the new images can touch (``dbt/macros/incremental.sql``), which is exactly what a full
rebuild gives. Anything else — the first build, a removed or overwritten file, a re-hash, a
changed threshold or model, or a request — rebuilds in full.

Pure: no Dagster import. The asset reads the facts from the warehouse and records each complete
refresh in ``dedup_refreshes``.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

# dedup_since's value that makes the models read the marks of the newest dedup_refreshes row.
LAST_REFRESH = "last_refresh"

# What a refresh depends on besides the data: the SQL and the variables.
_SQL_FOLDERS = ("models", "macros")


@dataclass(frozen=True)
class Marks:
    """The newest catalogue and hash times, and how many rows are at or before them."""

    catalog_mark: datetime | None
    hash_mark: datetime | None
    catalog_rows: int
    hash_rows: int


@dataclass(frozen=True)
class LastRefresh:
    """The last complete refresh: the marks it covered and the project it ran."""

    marks: Marks
    fingerprint: str


@dataclass(frozen=True)
class RefreshPlan:
    """Full or incremental (from ``since``), and why."""

    full: bool
    reason: str
    since: Marks | None = None

    def dbt_args(self, overrides: Mapping[str, Any] | None = None) -> list[str]:
        """Arguments after ``dbt build``; ``overrides``: the run's own dbt variables."""
        variables = dict(overrides or {})
        if self.full:
            args = ["--full-refresh"]
        else:
            # The marks of the newest dedup_refreshes row, which are ``since``: read by the SQL
            # rather than passed as values, so every incremental refresh runs with the same
            # variables and dbt keeps its partial parse (dbt/macros/incremental.sql).
            assert self.since is not None
            variables["dedup_since"] = LAST_REFRESH
            args = []
        return [*args, *(["--vars", json.dumps(variables)] if variables else [])]


def project_fingerprint(project_dir: Path, dbt_vars: Mapping[str, Any]) -> str:
    """A digest of the models, macros and variables: a change to any of them means the stored
    tables were computed by other rules and must be rebuilt in full."""
    digest = hashlib.sha256(json.dumps(dict(dbt_vars), sort_keys=True, default=str).encode())
    for folder in _SQL_FOLDERS:
        for path in sorted((project_dir / folder).rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(project_dir)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def plan_refresh(
    *,
    requested_full: bool,
    last: LastRefresh | None,
    rows_at_last_marks: tuple[int, int] | None,
    fingerprint: str,
    tables_exist: bool,
) -> RefreshPlan:
    """Decide the refresh. ``rows_at_last_marks``: catalogue and hash rows at or before the
    last refresh's marks now (None without a last refresh)."""
    if requested_full:
        return RefreshPlan(True, "full rebuild requested")
    if last is None:
        return RefreshPlan(True, "no complete refresh recorded yet")
    if not tables_exist:
        return RefreshPlan(True, "a dedup table is missing")
    if last.fingerprint != fingerprint:
        return RefreshPlan(True, "the dedup models or their variables changed")
    if rows_at_last_marks != (last.marks.catalog_rows, last.marks.hash_rows):
        return RefreshPlan(
            True,
            "catalogue or hash rows at or before the last refresh changed "
            f"({last.marks.catalog_rows}, {last.marks.hash_rows} then, "
            f"{rows_at_last_marks} now): removed, overwritten or re-hashed images",
        )
    return RefreshPlan(False, "only additions since the last refresh", last.marks)
