"""What image_hashes reads and writes besides the hashes themselves (pure: no Dagster).

Which catalogued contents still need a hash (``pending_images``, paged by keyset), the hashes
raw_images computed while reading (``adopt_handoff``), the quarantine rows of files that could
not be read or decoded (``HashWriter``), and the summary tables of a run, as SQL that DuckDB and
T-SQL both run.
"""

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from assets.tables import (
    HASH_SIZES,
    IMAGE_HASHES,
    IMAGE_HASHES_HANDOFF,
    QUARANTINED_IMAGES,
    RAW_IMAGES,
    image_hashes_table,
    quarantine_row,
)
from resources.warehouse.sql import row_limit

if TYPE_CHECKING:
    import pandas as pd

    from assets.decode import DecodePolicy, UndecodableImageError
    from assets.hashing.engine import HashResult
    from resources.warehouse.base import Warehouse


UNREADABLE = "unreadable"


def unreadable_before(warehouse: "Warehouse") -> set[str]:
    rows = warehouse.query_df(
        f"SELECT DISTINCT image_id FROM {QUARANTINED_IMAGES.name} "
        f"WHERE stage = 'hash' AND reason = ?",
        [UNREADABLE],
    )
    return set(rows.image_id)


def accepted_versions(mode: str, policy: "DecodePolicy") -> list[str]:
    """Hash versions that count as done for a run in ``mode``.

    Fast mode hashes only JPEGs in the DCT domain; every other image takes the exact path and is
    stored with the exact version, which a fast run must accept (or it would hash those images
    again on every run). An exact run accepts only exact hashes: switching to exact re-hashes
    what fast mode drafted.
    """
    from assets.hashing.engine import algorithm_version

    exact = algorithm_version("exact", policy)
    return [exact] if mode == "exact" else [algorithm_version(mode, policy), exact]


def pending_filter(versions: list[str]) -> tuple[str, list]:
    """WHERE clause over ``raw_images r``: contents without a hash of an accepted version, minus
    those that failed to decode under the run's version (``versions[0]``). Contents that could
    not be read (a blob or file gone or failing at the time) are tried again on every run."""
    placeholders = ", ".join("?" for _ in versions)
    sql = (
        f"NOT EXISTS (SELECT 1 FROM {IMAGE_HASHES.name} h "
        f"  WHERE h.image_id = r.image_id AND h.hash_version IN ({placeholders})) "
        f"AND NOT EXISTS (SELECT 1 FROM {QUARANTINED_IMAGES.name} q "
        f"  WHERE q.image_id = r.image_id AND q.stage = 'hash' AND q.reason <> '{UNREADABLE}' "
        f"  AND q.detail LIKE ?)"
    )
    return sql, [*versions, f"[{versions[0]}]%"]


def forget_unreadable(warehouse: "Warehouse", image_ids: list[str]) -> None:
    """Readable again and hashed: the earlier 'unreadable' quarantine rows no longer hold."""
    for start in range(0, len(image_ids), 1000):  # T-SQL takes at most 2100 parameters
        chunk = image_ids[start : start + 1000]
        warehouse.execute(
            f"DELETE FROM {QUARANTINED_IMAGES.name} WHERE stage = 'hash' AND reason = ? "
            f"AND image_id IN ({', '.join('?' for _ in chunk)})",
            [UNREADABLE, *chunk],
        )


def ensure_tables(warehouse: "Warehouse") -> None:
    for spec in (RAW_IMAGES, IMAGE_HASHES, QUARANTINED_IMAGES):
        warehouse.ensure_table(spec)


def count_pending(warehouse: "Warehouse", versions: list[str]) -> int:
    ensure_tables(warehouse)
    where, params = pending_filter(versions)
    sql = f"SELECT COUNT(DISTINCT r.image_id) AS n FROM {RAW_IMAGES.name} r WHERE {where}"
    return int(warehouse.query_df(sql, params).n.iloc[0])


def pending_images(
    warehouse: "Warehouse", versions: list[str], page_size: int = 10_000
) -> Iterator[Any]:
    """The contents to hash (one catalog location each), in ``image_id`` order, read a page at a
    time (keyset on ``image_id``), so a collection of millions is never held in memory."""
    ensure_tables(warehouse)
    where, params = pending_filter(versions)
    top, limit = row_limit(page_size, warehouse.dialect)
    after = ""
    while True:
        page = warehouse.query_df(
            f"SELECT {top}r.image_id, MIN(r.source_uri) AS source_uri, MIN(r.name) AS name, "
            f"MIN(r.label) AS label, MIN(r.byte_size) AS byte_size, "
            f"MIN(r.last_modified) AS last_modified "
            f"FROM {RAW_IMAGES.name} r WHERE r.image_id > ? AND {where} "
            f"GROUP BY r.image_id ORDER BY r.image_id{limit}",
            [after, *params],
        )
        yield from page.itertuples(index=False)
        if len(page) < page_size:
            return
        after = page.image_id.iloc[-1]


def distinct_hashes_sql() -> str:
    """Distinct (row, column) hashes per size, largest size first, in SQL both DuckDB and T-SQL
    run (no multi-column COUNT DISTINCT, no string concatenation)."""
    counts = ", ".join(
        f"(SELECT COUNT(*) FROM (SELECT DISTINCT dhash{s}_row, dhash{s}_col "
        f"FROM {IMAGE_HASHES.name}) AS d{s}) AS size_{s}"
        for s in sorted(HASH_SIZES, reverse=True)
    )
    return f"SELECT {counts}"


def adopt_handoff(
    warehouse: "Warehouse", versions: list[str], page_size: int = 10_000
) -> list[str]:
    """Move into image_hashes the hashes raw_images computed from the bytes it read (the
    handoff table) for images still without a hash of an accepted version. Returns the adopted
    image_ids.

    Pages by keyset on ``image_id``, like ``pending_images``, so memory stays flat.
    """
    if not warehouse.table_exists(IMAGE_HASHES_HANDOFF):
        return []
    placeholders = ", ".join("?" for _ in versions)
    top, limit = row_limit(page_size, warehouse.dialect)
    columns = ", ".join(f"h.{c}" for c in IMAGE_HASHES.column_names)
    adopted: list[str] = []
    after = ""
    while True:
        page = warehouse.query_df(
            f"SELECT {top}{columns} FROM {IMAGE_HASHES_HANDOFF.name} h "
            f"WHERE h.image_id > ? AND h.hash_version IN ({placeholders}) "
            f"AND EXISTS (SELECT 1 FROM {RAW_IMAGES.name} r WHERE r.image_id = h.image_id) "
            f"AND NOT EXISTS (SELECT 1 FROM {IMAGE_HASHES.name} x "
            f"  WHERE x.image_id = h.image_id AND x.hash_version IN ({placeholders})) "
            f"ORDER BY h.image_id, h.hash_version{limit}",
            [after, *versions, *versions],
        )
        if len(page):
            # One row per image: the run's own version first, then the others it accepts.
            rank = {v: i for i, v in enumerate(versions)}
            page = (
                page.assign(_rank=page.hash_version.map(rank))
                .sort_values(["image_id", "_rank"])
                .drop_duplicates("image_id")
                .drop(columns="_rank")
            )
            warehouse.upsert(IMAGE_HASHES, page)
            adopted.extend(page.image_id)
        if len(page) < page_size:
            break
        after = page.image_id.iloc[-1]
    return adopted


def drop_settled_handoff(warehouse: "Warehouse") -> None:
    """Forget the handoff rows of every image that has a hash now (taken over or not)."""
    if warehouse.table_exists(IMAGE_HASHES_HANDOFF):
        warehouse.execute(
            f"DELETE FROM {IMAGE_HASHES_HANDOFF.name} WHERE EXISTS (SELECT 1 FROM "
            f"{IMAGE_HASHES.name} x WHERE x.image_id = {IMAGE_HASHES_HANDOFF.name}.image_id)"
        )


class HashWriter:
    """The run's bookkeeping: hashes and quarantine rows written ``batch_size`` at a time, and
    the 'unreadable' quarantine rows of images that have now been hashed forgotten."""

    def __init__(self, warehouse: "Warehouse", version: str, retried: set[str]):
        self.warehouse = warehouse
        self.version = version
        self.retried = retried
        self.rows: list[tuple[str, HashResult, datetime]] = []
        self.bad: list[dict] = []
        self.recovered: list[str] = []
        self.hashed = self.quarantined = self.done = 0
        self.backends: dict[str, int] = {}

    def add(self, entry: Any, result: "HashResult | UndecodableImageError", now: datetime) -> None:
        """One result of ``hash_many`` for a ``pending_images`` row: a hash or an error."""
        if isinstance(result, Exception):
            self.bad.append(
                quarantine_row(
                    image_id=entry.image_id,
                    source_uri=entry.source_uri,
                    stage="hash",
                    reason=result.reason,
                    detail=f"[{self.version}] {result.detail}",
                    at=now,
                    name=entry.name,
                    label=entry.label,
                    byte_size=entry.byte_size,
                    last_modified=entry.last_modified,
                )
            )
        else:
            self.rows.append((entry.image_id, result, now))
            self.backends[result.backend] = self.backends.get(result.backend, 0) + 1
            if entry.image_id in self.retried:
                self.recovered.append(entry.image_id)
        self.done += 1

    def flush(self) -> None:
        import pandas as pd

        if self.rows:
            self.hashed += self.warehouse.upsert(IMAGE_HASHES, image_hashes_table(self.rows))
            self.rows.clear()
        if self.bad:
            self.quarantined += self.warehouse.insert_new(
                QUARANTINED_IMAGES, pd.DataFrame(self.bad)
            )
            self.bad.clear()
        if self.recovered:
            forget_unreadable(self.warehouse, self.recovered)
            self.recovered.clear()


def hash_summaries(warehouse: "Warehouse") -> dict[str, "pd.DataFrame"]:
    """The tables shown on the materialisation: a preview, distinct hashes per size, hashes per
    version and images per content kind."""
    return {
        "preview": warehouse.head(
            IMAGE_HASHES,
            ["image_id", "DHashHex3", "DHashHex8", "hash_mode", "hash_version", "hashed_at"],
            order_by="hashed_at DESC, image_id",
        ),
        "distinct": warehouse.query_df(distinct_hashes_sql()),
        "versions": warehouse.query_df(
            f"SELECT hash_version, hash_mode, COUNT(*) AS images FROM {IMAGE_HASHES.name} "
            f"GROUP BY hash_version, hash_mode ORDER BY hash_version, hash_mode"
        ),
        "content": warehouse.query_df(
            f"SELECT content, COUNT(*) AS images FROM {IMAGE_HASHES.name} "
            f"GROUP BY content ORDER BY content"
        ),
    }
