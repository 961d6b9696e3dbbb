"""The duplicate_review asset: contact sheets of the dedup decisions, for people to look at."""

import dagster as dg

from assets.dedup.assets import DEDUP_PROJECT, GROUP_NAME
from assets.dedup.project import dbt_vars
from assets.metadata import md_image
from resources.blob_store import BlobStore
from resources.warehouse.base import Warehouse

REVIEW_CONTAINER = "reports"
MAX_GROUPS = 6
MAX_PAIRS = 8


@dg.asset(
    group_name=GROUP_NAME,
    kinds={"python", "pillow"},
    pool="warehouse",
    deps=["duplicate_groups", "similar_images"],
    description=(
        "Contact sheets for reviewing dedup: the largest duplicate groups (duplicate_groups) "
        "with the kept representative framed in green, and the similar_images pairs (equal "
        "size-k hashes, different size-8 hashes), most different first. Every thumbnail carries "
        "its DHashHex3, pixel size and format. Shown on the materialisation and stored as PNG "
        "in the reports container."
    ),
)
def duplicate_review(
    context: dg.AssetExecutionContext, warehouse: Warehouse, blob_store: BlobStore
) -> dg.MaterializeResult:
    # Pillow and pandas load with this step, not with the code location.
    from assets.dedup.review import contact_sheet, largest_groups, similar_pairs

    k = int(dbt_vars(DEDUP_PROJECT.project_dir)["dedup_hash_size"])
    hex_k = f"DHashHex{k}"
    members = warehouse.query_df(
        "SELECT g.image_id, g.group_id, g.group_size, g.is_representative, g.rank_in_group, "
        f"g.reason_code, g.label, g.width, g.height, g.format, g.source_uri, s.{hex_k} "
        "FROM duplicate_groups g JOIN stg_images s ON s.image_id = g.image_id "
        "WHERE g.group_size > 1"
    )
    pairs = warehouse.query_df(
        "SELECT image_id_a, image_id_b, distance, is_near_duplicate FROM similar_images"
    )
    paired = warehouse.query_df(
        f"SELECT s.image_id, s.width, s.height, s.format, s.source_uri, s.{hex_k}, s.DHashHex8, "
        "g.is_representative "
        "FROM stg_images s LEFT JOIN duplicate_groups g ON g.image_id = s.image_id "
        "WHERE s.image_id IN (SELECT image_id_a FROM similar_images) "
        "OR s.image_id IN (SELECT image_id_b FROM similar_images)"
    )
    uris = dict(zip(members.image_id, members.source_uri, strict=True))
    uris.update(zip(paired.image_id, paired.source_uri, strict=True))

    def load(image_id: str) -> bytes | None:
        try:
            return blob_store.read_uri(uris[image_id])
        except (OSError, ValueError, KeyError) as error:
            context.log.warning(f"cannot show {image_id}: {error}")
            return None

    group_rows = largest_groups(members, MAX_GROUPS, hash_size=k)
    pair_rows = similar_pairs(pairs, paired, MAX_PAIRS, hash_size=k)
    sheets = {
        "duplicate_groups": contact_sheet(
            f"Largest duplicate groups (green: the kept copy; {hex_k} equal or near-duplicate)",
            group_rows,
            load,
        ),
        "similar_images": contact_sheet(
            f"similar_images: equal {hex_k}, different DHashHex8", pair_rows, load
        ),
    }
    blob_store.ensure_container(REVIEW_CONTAINER)
    metadata: dict = {
        "groups_with_duplicates": int(members.group_id.nunique()),
        "groups_shown": len(group_rows),
        "similar_pairs": len(pairs),
        "similar_pairs_beyond_threshold": int((~pairs.is_near_duplicate.astype(bool)).sum()),
        "pairs_shown": len(pair_rows),
    }
    for name, png in sheets.items():
        path = f"dedup/{context.run.run_id}/{name}.png"
        blob_store.write_bytes(REVIEW_CONTAINER, path, png, content_type="image/png")
        metadata[f"{name}_sheet"] = dg.MetadataValue.md(md_image(png, f"{name} contact sheet"))
        metadata[f"{name}_png"] = dg.MetadataValue.url(blob_store.url(REVIEW_CONTAINER, path))
    return dg.MaterializeResult(metadata=metadata)
