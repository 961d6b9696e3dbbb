"""The dedup models as the tests and benchmarks compare them, and the dense-duplicates
reproducer loaded into a DuckDB file."""

from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from assets.tables import IMAGE_HASHES, RAW_IMAGES
from resources.environment import get_settings
from resources.warehouse.base import Warehouse
from resources.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.support.resources import platform_resources

# Every table the dedup dbt project builds, in build order, with the columns that order its rows
# when two builds are compared.
TABLE_KEYS = {
    "stg_images": ["image_id"],
    "near_duplicate_pairs": ["image_id_a", "image_id_b"],
    "border_trimmed_pairs": ["image_id_a", "image_id_b"],
    "multi_size_pairs": ["image_id_a", "image_id_b"],
    "centre_pairs": ["image_id_a", "image_id_b"],
    "edge_cut_pairs": ["image_id_a", "image_id_b"],
    "bucket_links": ["node_lo", "node_hi"],
    "duplicate_groups": ["image_id"],
    "unique_images": ["image_id"],
    "unique_counts_by_label": ["label"],
    "similar_images": ["image_id_a", "image_id_b"],
}
DEDUP_MODELS = list(TABLE_KEYS)

# The two inputs of duplicate_groups for a collection where every picture exists about ten times
# (3,320 images, 217 distinct size-8 hashes, 122,640 near-duplicate pairs), beside the checkout.
DENSE_REPRO = Path(__file__).resolve().parents[3] / "shared" / "repro" / "dense-duplicate-groups"


def load_dense_repro(path: Path) -> None:
    """Create the DuckDB file ``path`` with what ``bucket_links`` and ``duplicate_groups`` read,
    from the reproducer's files (``DENSE_REPRO``)."""
    with duckdb.connect(str(path)) as con:
        for table in ("stg_images", "near_duplicate_pairs"):
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM '{DENSE_REPRO / table}.parquet'")
        # Recorded before the content box: every image may link, none has a content-box or probe
        # hash, so the decisions are the size-8 links' alone.
        con.execute(
            "ALTER TABLE stg_images ADD COLUMN dhash8_trim_row BIGINT; "
            "ALTER TABLE stg_images ADD COLUMN dhash8_trim_col BIGINT; "
            "ALTER TABLE stg_images ADD COLUMN unlinkable_id VARCHAR; "
            "CREATE TABLE border_trimmed_pairs AS SELECT * FROM near_duplicate_pairs LIMIT 0; "
            "CREATE TABLE multi_size_pairs AS SELECT * FROM near_duplicate_pairs LIMIT 0; "
            "CREATE TABLE centre_pairs AS SELECT * FROM near_duplicate_pairs LIMIT 0; "
            "CREATE TABLE edge_cut_pairs AS SELECT * FROM near_duplicate_pairs LIMIT 0"
        )


def dbt_resources() -> dict:
    """The platform's resources with dbt, on the DuckDB warehouse of the current platform home."""
    return platform_resources(DuckDBWarehouse(path=str(get_settings().duckdb_path)), dbt=True)


def random_batches(rng: np.random.Generator, n: int, parts: int = 3) -> list[np.ndarray]:
    """The indices 0..n-1 in a random order, cut at random places into ``parts`` batches."""
    order = rng.permutation(n)
    return np.split(order, sorted(rng.choice(np.arange(1, n), parts - 1, replace=False)))


def add_batch(warehouse: Warehouse, images: list[tuple[dict, dict]], batch, at: datetime) -> None:
    """Catalogue and hash the images ``batch`` indexes in ``images`` ((catalog row, hashes row)
    per image), as of ``at``."""
    catalog = pd.DataFrame([images[i][0] for i in batch]).assign(ingested_at=at)
    hashes = pd.DataFrame([images[i][1] for i in batch]).assign(hashed_at=at)
    warehouse.insert_new(RAW_IMAGES, catalog)
    warehouse.insert_new(IMAGE_HASHES, hashes)
