"""Publishing the kept images of each side to blob storage, with the lab's layout and lists."""

import io
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from assets.metadata import md_table
from assets.publish.naming import SPLIT_FOLDERS, join_blob_path
from assets.publish.publisher import (
    DEFAULT_FORMATS,
    HASH_COLUMNS,
    choose_publishable,
    plan_names,
    publish_side,
)
from assets.splits.membership import find_leakage
from assets.tables import IMAGE_HASHES, PUBLISHED_IMAGES, TRAIN_TEST_SPLIT
from resources.blob_store import BlobStore
from resources.settings import PlatformSettings
from resources.warehouse.base import Warehouse, table_schema

if TYPE_CHECKING:  # pandas loads with the step that publishes, not with the code location
    import pandas as pd

split_partitions = dg.StaticPartitionsDefinition(["train", "test"])

MANIFEST_COLUMNS = [
    "image_id",
    "blob_name",
    "label",
    "folder",
    "split",
    "width",
    "height",
    "format",
    "group_id",
    "md5",
    *HASH_COLUMNS,
]


class PublishConfig(dg.Config):
    """Run configuration of ``published_images``."""

    container: str = Field(default="", description="Target container; empty = configured.")
    prefix: str = Field(
        default="", description="Path prefix; empty = IMAGE_PLATFORM_PUBLISH_PREFIX"
    )
    formats: list[str] = Field(
        default=list(DEFAULT_FORMATS), description="Encodings to publish (others are listed)."
    )
    max_concurrency: int = Field(default=8, ge=1, le=64, description="Parallel uploads.")
    retry_attempts: int = Field(default=4, ge=1, description="Tries per blob on transient errors.")
    public_access: bool = Field(
        default=False, description="Create the container with public blob read access."
    )


def _items(warehouse: Warehouse, split: str, formats: tuple[str, ...]) -> "pd.DataFrame":
    members = warehouse.query_df(
        f"SELECT s.image_id, s.split, s.group_id, s.label, s.is_representative, "
        f"d.rank_in_group, d.width, d.height, d.format, d.source_uri, "
        f"{', '.join('h.' + c for c in HASH_COLUMNS)} "
        f"FROM {TRAIN_TEST_SPLIT.name} s "
        f"JOIN duplicate_groups d ON d.image_id = s.image_id "
        f"JOIN {IMAGE_HASHES.name} h ON h.image_id = s.image_id "
        f"WHERE s.split = ?",
        [split],
    )
    animated = warehouse.query_df(
        "SELECT image_id, MAX(CASE WHEN is_animated THEN 1 ELSE 0 END) AS is_animated "
        "FROM raw_images GROUP BY image_id"
    )
    members = members.merge(animated, on="image_id", how="left")
    members["is_animated"] = members.is_animated.fillna(0).astype(bool)
    return choose_publishable(members, formats)


def _lists(rows: "pd.DataFrame", side: str) -> tuple[bytes, bytes]:
    published = rows[rows.status == "published"].sort_values("blob_name")
    # The lab's transfer list: source URL, group path (Side/label), file name; tab-separated.
    lines = [
        f"{r.source_uri}\t{side}/{r.folder}\t{r.blob_name.rsplit('/', 1)[-1]}"
        for r in published.itertuples()
    ]
    transfer = ("\n".join(lines) + ("\n" if lines else "")).encode()
    buffer = io.BytesIO()
    published[MANIFEST_COLUMNS].to_parquet(buffer, index=False)
    return transfer, buffer.getvalue()


@dg.asset(
    group_name="publish",
    kinds={"python", "azure"},
    # It reads the split and writes published_images: a DuckDB file takes one process at a time.
    pool="warehouse",
    partitions_def=split_partitions,
    deps=["unique_images", "train_test_split"],
    description=(
        "The kept images of one side (partition train or test) uploaded to blob storage as "
        "<prefix>/Train|Test/<label>/<DHashHex3>.<ext> — the lab's layout — with content type and "
        "metadata (label, image_id, source, hashes), the lab's transferimages.txt and a Parquet "
        "manifest for training code. Reruns upload only what is missing or changed; images that "
        "left the side are removed; skipped encodings and animations are listed."
    ),
    metadata={"dagster/column_schema": table_schema(PUBLISHED_IMAGES)},
)
def published_images(
    context: dg.AssetExecutionContext,
    config: PublishConfig,
    warehouse: Warehouse,
    blob_store: BlobStore,
    settings: PlatformSettings,
) -> dg.MaterializeResult:
    import pandas as pd

    split = context.partition_key
    side = SPLIT_FOLDERS[split]
    container = config.container or settings.publish_container
    prefix = (config.prefix or settings.publish_prefix).strip("/")
    side_prefix = join_blob_path(prefix, side)

    leaks = find_leakage(warehouse)
    if not leaks.clean:
        # The blocking check stops a run that splits a group; this stops every other run too.
        raise dg.Failure(
            description=(
                f"refusing to publish: {len(leaks.groups)} duplicate groups and {leaks.pairs} "
                "near-duplicate pairs sit on both sides of train_test_split; rematerialise it"
            ),
            metadata={"groups": ", ".join(leaks.groups[:20])},
        )
    blob_store.ensure_container(container, public=config.public_access)
    items = _items(warehouse, split, tuple(config.formats))
    previous = warehouse.read_table(
        PUBLISHED_IMAGES, ["split", "image_id", "blob_name", "status", "etag"]
    )
    previous = previous[previous.split == split]
    plan = plan_names(items, previous, split, prefix, tuple(config.formats))
    context.log.info(
        f"{split}: {int((plan.status == 'publish').sum())} images to publish, "
        f"{int((plan.status == 'skipped').sum())} skipped, into {container}/{side_prefix}"
    )
    report = publish_side(
        plan,
        previous,
        blob_store,
        container,
        side_prefix,
        blob_store.read_uri,
        config.max_concurrency,
        config.retry_attempts,
    )
    rows = pd.DataFrame(report.rows)
    if report.source_gone:
        context.log.warning(
            f"{report.source_gone} sources were overwritten or deleted since they were "
            "catalogued: not published (skipped as source_changed / source_missing), their "
            "earlier blobs removed. Rerun curation_job to catalogue what the sources hold now."
        )
    if report.failed is not None:
        # Record what did land so the rerun skips it, then fail loudly.
        if len(rows) and (rows.status == "published").any():
            warehouse.upsert(PUBLISHED_IMAGES, rows[rows.status == "published"])
        raise report.failed
    warehouse.replace_where(PUBLISHED_IMAGES, rows, {"split": split})

    transfer, manifest = _lists(rows, side)
    transfer_name = join_blob_path(side_prefix, "transferimages.txt")
    manifest_name = join_blob_path(side_prefix, "manifest.parquet")
    blob_store.write_bytes(container, transfer_name, transfer, content_type="text/plain")
    blob_store.write_bytes(
        container, manifest_name, manifest, content_type="application/vnd.apache.parquet"
    )

    published = rows[rows.status == "published"]
    skipped = rows[rows.status == "skipped"]
    per_label = (
        rows.assign(published=rows.status == "published", skipped=rows.status == "skipped")
        .groupby(["label", "folder"])[["published", "skipped"]]
        .sum()
        .reset_index()
    )
    renamed = per_label[per_label.label.astype(str) != per_label.folder]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(published),
            "container": container,
            "prefix": side_prefix,
            "published": len(published),
            "uploaded": report.uploaded,
            "unchanged": report.unchanged,
            "skipped": len(skipped),
            "sources_changed_since_catalogued": report.source_gone,
            "removed": len(report.removed),
            "bytes_uploaded": report.bytes_uploaded,
            "manifest": dg.MetadataValue.url(blob_store.url(container, manifest_name)),
            "transfer_list": dg.MetadataValue.url(blob_store.url(container, transfer_name)),
            "per_label": dg.MetadataValue.md(md_table(per_label, 200)),
            "skipped_images": dg.MetadataValue.md(
                md_table(skipped[["label", "image_id", "format", "reason", "source_uri"]], 50)
            ),
            "label_folders_renamed": dg.MetadataValue.md(md_table(renamed[["label", "folder"]])),
            "removed_blobs": dg.MetadataValue.md("\n".join(f"- `{n}`" for n in report.removed))
            if report.removed
            else "none",
        }
    )
