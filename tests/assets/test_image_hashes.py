"""image_hashes on real files: the dhash package's hex, incremental reruns, modes, bad files."""

import dagster as dg
import dhash
import pytest
from PIL import Image

from assets.hashing.assets import ImageHashesConfig, image_hashes
from assets.hashing.engine import FAST_HASH_ALGORITHM_VERSION, HASH_ALGORITHM_VERSION
from assets.ingest.assets import RawImagesConfig, raw_images
from assets.tables import HASH_SIZES, IMAGE_HASHES, QUARANTINED_IMAGES, RAW_IMAGES
from tests.support.images import write_collection
from tests.support.resources import platform_resources


def _catalogue(warehouse, blob_store, source) -> None:
    result = dg.materialize(
        [raw_images],
        resources=platform_resources(warehouse, blob_store),
        run_config=dg.RunConfig({"raw_images": RawImagesConfig(source=str(source))}),
    )
    assert result.success


def _hash(warehouse, blob_store, **config) -> dict:
    result = dg.materialize(
        [image_hashes],
        resources=platform_resources(warehouse, blob_store),
        run_config=dg.RunConfig({"image_hashes": ImageHashesConfig(**config)}),
    )
    assert result.success
    (mat,) = result.asset_materializations_for_node("image_hashes")
    return {key: value.value for key, value in mat.metadata.items()}


@pytest.fixture
def collection(tmp_path, warehouse, local_blob_store):
    files = write_collection(tmp_path / "c")
    _catalogue(warehouse, local_blob_store, tmp_path / "c")
    return files


def _by_name(warehouse):
    names = warehouse.read_table(RAW_IMAGES, ["image_id", "name"]).set_index("image_id").name
    hashes = warehouse.read_table(IMAGE_HASHES)
    return hashes.assign(name=hashes.image_id.map(names)).set_index("name")


def test_every_catalogued_image_gets_the_dhash_packages_hex_at_every_size(
    collection, warehouse, local_blob_store
):
    metadata = _hash(warehouse, local_blob_store)
    hashes = _by_name(warehouse)
    assert set(hashes.index) == {"cat.jpg", "cat_small.png", "coffee.jpg", "noise.png"}
    for key in ("cat", "cat_small", "coffee", "gray"):
        with Image.open(collection[key]) as image:
            image.load()
            row = hashes.loc[collection[key].name]
            for size in HASH_SIZES:
                expected = dhash.format_hex(*dhash.dhash_row_col(image, size=size), size=size)
                assert row[f"DHashHex{size}"] == expected, (key, size)
    assert set(hashes.hash_version) == {HASH_ALGORITHM_VERSION}
    assert metadata["hashed_now"] == 4 and metadata["quarantined_now"] == 0
    assert metadata["dagster/row_count"] == 4 and metadata["already_hashed"] == 0
    assert metadata["mode"] == "exact" and metadata["hash_version"] == HASH_ALGORITHM_VERSION
    assert metadata["images_per_second"] > 0
    assert metadata["preview"].count("\n| ") == 5  # the header's rule, then the 4 images
    assert f"| {HASH_ALGORITHM_VERSION} | exact | 4 |" in metadata["hashes_by_version"]
    distinct = {
        s: len(hashes[[f"dhash{s}_row", f"dhash{s}_col"]].drop_duplicates()) for s in HASH_SIZES
    }
    assert metadata["distinct_hashes_by_size"].splitlines()[-1] == (
        "| " + " | ".join(str(distinct[s]) for s in sorted(HASH_SIZES, reverse=True)) + " |"
    )


def test_a_rerun_hashes_nothing_and_leaves_the_rows_untouched(
    collection, warehouse, local_blob_store
):
    _hash(warehouse, local_blob_store)
    before = warehouse.read_table(IMAGE_HASHES).sort_values("image_id", ignore_index=True)
    metadata = _hash(warehouse, local_blob_store)
    after = warehouse.read_table(IMAGE_HASHES).sort_values("image_id", ignore_index=True)
    assert metadata["hashed_now"] == 0 and metadata["already_hashed"] == 4
    assert after.equals(before)


def test_fast_mode_drafts_only_jpegs_and_exact_hashes_satisfy_a_fast_run(
    collection, warehouse, local_blob_store
):
    first = _hash(warehouse, local_blob_store, mode="fast")
    hashes = _by_name(warehouse)
    assert first["hashed_now"] == 4
    assert hashes.loc["cat.jpg", "hash_version"] == FAST_HASH_ALGORITHM_VERSION
    assert hashes.loc["cat.jpg", "hash_mode"] == "fast"
    # Other formats take the exact path, and say so.
    assert hashes.loc["cat_small.png", "hash_version"] == HASH_ALGORITHM_VERSION
    assert _hash(warehouse, local_blob_store, mode="fast")["hashed_now"] == 0
    # Exact replaces the two drafted JPEG hashes and keeps the exact ones.
    assert _hash(warehouse, local_blob_store, mode="exact")["hashed_now"] == 2
    assert set(_by_name(warehouse).hash_version) == {HASH_ALGORITHM_VERSION}
    # Exact hashes are what fast mode approximates: a fast run has nothing left to do.
    assert _hash(warehouse, local_blob_store, mode="fast")["hashed_now"] == 0


def test_a_file_gone_before_hashing_is_quarantined_then_hashed_when_it_is_back(
    collection, warehouse, local_blob_store
):
    data = collection["coffee"].read_bytes()
    collection["coffee"].unlink()
    metadata = _hash(warehouse, local_blob_store)
    assert metadata["hashed_now"] == 3 and metadata["quarantined_now"] == 1
    quarantine = warehouse.read_table(QUARANTINED_IMAGES)
    gone = quarantine[quarantine.stage == "hash"]
    assert list(gone.reason) == ["unreadable"] and gone.source_uri.iloc[0].endswith("coffee.jpg")

    collection["coffee"].write_bytes(data)
    metadata = _hash(warehouse, local_blob_store)
    assert metadata["hashed_now"] == 1
    assert "coffee.jpg" in _by_name(warehouse).index
    quarantine = warehouse.read_table(QUARANTINED_IMAGES)
    assert (quarantine.stage == "hash").sum() == 0  # the stale row is gone


def test_a_file_that_no_longer_decodes_is_quarantined_once_and_not_retried(
    collection, warehouse, local_blob_store
):
    collection["coffee"].write_bytes(b"<html>not an image any more</html>")
    metadata = _hash(warehouse, local_blob_store)
    assert metadata["hashed_now"] == 3 and metadata["quarantined_now"] == 1
    quarantine = warehouse.read_table(QUARANTINED_IMAGES)
    reasons = list(quarantine[quarantine.stage == "hash"].reason)
    assert reasons == ["unidentified_format"]
    again = _hash(warehouse, local_blob_store)
    assert again["hashed_now"] == 0 and again["quarantined_now"] == 0


def test_pending_images_come_a_page_at_a_time_in_id_order_each_once(
    collection, warehouse, local_blob_store
):
    from assets.hashing.bookkeeping import pending_images

    versions = [HASH_ALGORITHM_VERSION]
    ids = sorted(warehouse.read_table(RAW_IMAGES, ["image_id"]).image_id)
    pages = pending_images(warehouse, versions, page_size=3)
    first = next(pages)
    # Hashing while the pages are read (as the asset does) neither repeats nor skips an image.
    _hash(warehouse, local_blob_store, workers=1)
    seen = [first.image_id] + [row.image_id for row in pages]
    assert seen[0] == ids[0]
    assert seen[1:3] == ids[1:3]  # the rest of the first page was already read
    assert len(seen) == len(set(seen))
    assert list(pending_images(warehouse, versions, page_size=3)) == []


def test_the_azure_sql_page_query_is_a_tsql_top_query():
    import pandas as pd
    import sqlglot

    from assets.hashing.bookkeeping import pending_images
    from resources.warehouse.base import Warehouse
    from resources.warehouse.dialects import TSQL

    queries = []

    class Recording(Warehouse):
        dialect = TSQL

        def ensure_table(self, spec):
            pass

        def query_df(self, sql, params=None):
            queries.append((sql, list(params or [])))
            return pd.DataFrame(columns=["image_id"])

        def unused(self, *args, **kwargs):
            raise AssertionError("the page query only reads")

        table_exists = execute = run_statements = existing_columns = _write_all = _open = unused

    assert list(pending_images(Recording(), ["v2", "v1"], page_size=500)) == []
    ((sql, params),) = queries
    parsed = sqlglot.parse_one(sql.replace("?", "@p"), read="tsql")
    assert parsed.args["limit"].expression.this == "500" and "LIMIT" not in sql
    assert params == ["", "v2", "v1", "[v2]%"]
    assert sql.count("?") == len(params)


def test_the_distinct_hash_counts_are_portable_tsql():
    import sqlglot

    from assets.hashing.bookkeeping import distinct_hashes_sql

    parsed = sqlglot.parse_one(distinct_hashes_sql(), read="tsql")
    assert [e.alias for e in parsed.expressions] == [f"size_{s}" for s in range(8, 0, -1)]
