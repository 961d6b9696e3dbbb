"""Stand-in dedup tables for split/publish tests, computed from a real catalog.

The dbt models produce these in the platform; here they are derived directly (the lab's rule:
groups given explicitly, largest width then height kept) so the tests of the stages after dedup
do not depend on dbt's runtime.
"""

import io

import dhash
import duckdb
import pandas as pd
from PIL import Image

from assets.tables import RAW_IMAGES


def seed_dedup_tables(warehouse, store, groups: dict[str, list[str]], labels=None) -> None:
    """``groups``: group name -> file names (first = any order; the largest is kept)."""
    catalog = warehouse.read_table(RAW_IMAGES).drop_duplicates("image_id").set_index("name")
    rows = []
    for members in groups.values():
        sub = catalog.loc[members].sort_values(["width", "height"], ascending=False)
        rep = sub.image_id.iloc[0]
        for rank, (name, row) in enumerate(sub.iterrows(), start=1):
            label = (labels or {}).get(name, row.label)
            rows.append(
                {
                    "image_id": row.image_id,
                    "group_id": rep,
                    "is_representative": row.image_id == rep,
                    "representative_image_id": rep,
                    "rank_in_group": rank,
                    "reason": None if row.image_id == rep else f"near_duplicate of {rep}",
                    "label": label,
                    "width": row.width,
                    "height": row.height,
                    "group_size": len(sub),
                    "format": row.format,
                    "source_uri": row.source_uri,
                    "name": name,
                }
            )
    members = pd.DataFrame(rows)
    hashes = members[["image_id", "source_uri"]].drop_duplicates("image_id").copy()
    for s in range(1, 9):
        hashes[f"DHashHex{s}"] = [
            dhash.format_hex(*dhash.dhash_row_col(_image(uri, store), size=s), size=s)
            for uri in hashes.source_uri
        ]
    hashes = hashes.drop(columns=["source_uri"])
    reps = members[members.is_representative].merge(hashes, on="image_id")
    with duckdb.connect(warehouse.path) as con:
        con.register("members_df", members)
        con.register("reps_df", reps)
        con.execute("CREATE OR REPLACE TABLE duplicate_groups AS SELECT * FROM members_df")
        con.execute("CREATE OR REPLACE TABLE unique_images AS SELECT * FROM reps_df")
        con.register("hashes_df", hashes)
        con.execute("CREATE OR REPLACE TABLE image_hashes AS SELECT * FROM hashes_df")
        con.execute(
            "CREATE OR REPLACE TABLE near_duplicate_pairs AS "
            "SELECT a.image_id AS image_id_a, b.image_id AS image_id_b, 1 AS distance "
            "FROM members_df a JOIN members_df b ON a.group_id = b.group_id "
            "AND a.image_id < b.image_id"
        )


def _image(uri, store) -> Image.Image:
    return Image.open(io.BytesIO(store.read_uri(uri)))
