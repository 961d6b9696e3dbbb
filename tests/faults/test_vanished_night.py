"""A night whose arrivals vanished is never emptied silently; its two tables change together."""

import dataclasses
import io
import os
import shutil
from datetime import UTC, datetime, time

import dagster as dg
import onnx
import pandas as pd
import pytest

from assets.classifier.registry import MODEL_NAME, StoredModel, load_version, save_version
from assets.classifier.spec import model_version
from assets.inference.assets import NightlyConfig, nightly_classifications
from assets.ingest.assets import RawImagesConfig, raw_images
from assets.model.assets import ClassifierConfig, image_classifier
from assets.tables import IMAGE_PREDICTIONS, IMAGE_PROBABILITIES
from resources.blob_store import LocalBlobStore
from resources.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.assets.test_classification import DAY
from tests.assets.test_split_and_publish import GROUPS, _collection, _publish, _split
from tests.support.dedup_tables import seed_dedup_tables
from tests.support.harness import assert_same, table_snapshot
from tests.support.images import encode, photo
from tests.support.resources import platform_resources
from tests.support.services import local_environment

NOON = datetime.combine(DAY, time(12), tzinfo=UTC)


def _arrive(store, name: str, data: bytes) -> None:
    store.ensure_container("incoming")
    store.write_bytes("incoming", name, data)
    path = os.path.join(store.root, "incoming", name)
    os.utime(path, (NOON.timestamp(), NOON.timestamp()))


def _classify(warehouse, store, **config):
    return dg.materialize(
        [nightly_classifications],
        partition_key=DAY.isoformat(),
        resources=platform_resources(warehouse, store),
        run_config=dg.RunConfig({"nightly_classifications": NightlyConfig(**config)}),
        raise_on_error=False,
    )


def _night(warehouse):
    return {
        spec.name: table_snapshot(warehouse, spec)
        for spec in (IMAGE_PREDICTIONS, IMAGE_PROBABILITIES)
    }


def _retrained(model: StoredModel) -> StoredModel:
    """The same graph under another version: its ONNX bytes differ by a doc string."""
    proto = onnx.load_from_string(model.onnx_bytes)
    proto.doc_string = (proto.doc_string or "") + " retrained"
    data = proto.SerializeToString()
    spec = dataclasses.replace(model.spec, version=model_version(data))
    return StoredModel(data, spec)


def _parquet(store, filename):
    data = store.read_bytes("predictions", f"date={DAY.isoformat()}/{filename}")
    return pd.read_parquet(io.BytesIO(data))


@pytest.fixture(scope="module")
def night_template(tmp_path_factory):
    """A catalogued, published and trained platform with one classified night (built once)."""
    root = tmp_path_factory.mktemp("night")
    with local_environment(root / "home"):
        warehouse = DuckDBWarehouse(path=str(root / "warehouse.duckdb"))
        store = LocalBlobStore(root=str(root / "blobs"))
        resources = platform_resources(warehouse, store)
        source = _collection(root / "collection")
        config = dg.RunConfig({"raw_images": RawImagesConfig(source=str(source))})
        assert dg.materialize([raw_images], resources=resources, run_config=config).success
        seed_dedup_tables(warehouse, store, GROUPS)
        _split(warehouse, ratio=0.5)
        for side in ("train", "test"):
            assert _publish(warehouse, store, side).success
        # A handful of Test images cannot show any accuracy floor.
        floor = dg.RunConfig({"image_classifier": ClassifierConfig(min_test_accuracy=0.0)})
        assert dg.materialize([image_classifier], resources=resources, run_config=floor).success
        _arrive(store, "2026/03/14/cat.jpg", encode(photo("chelsea.png").resize((300, 200))))
        _arrive(store, "2026/03/14/coffee.png", encode(photo("coffee.png"), "PNG"))
        _arrive(store, "2026/03/14/rocket.jpg", encode(photo("rocket.jpg").resize((320, 200))))
        assert _classify(warehouse, store).success
        assert warehouse.count(IMAGE_PREDICTIONS) == 3
    return root


@pytest.fixture
def classified_night(night_template, tmp_path, platform_home):
    root = tmp_path / "night"
    shutil.copytree(night_template, root)
    warehouse = DuckDBWarehouse(path=str(root / "warehouse.duckdb"))
    return warehouse, LocalBlobStore(root=str(root / "blobs"))


def test_a_rerun_after_the_days_folder_vanished_keeps_the_nights_results(classified_night):
    warehouse, store = classified_night
    before = _night(warehouse)
    shutil.rmtree(os.path.join(store.root, "incoming", "2026"))

    result = _classify(warehouse, store)

    assert result.success
    (mat,) = result.asset_materializations_for_node("nightly_classifications")
    assert mat.metadata["arrived"].value == 0
    assert mat.metadata["kept_vanished"].value == 3
    assert_same(before, _night(warehouse))
    # The Parquet copies still describe the night, not an empty one.
    assert len(_parquet(store, "predictions.parquet")) == 3
    assert len(_parquet(store, "probabilities.parquet")) == warehouse.count(IMAGE_PROBABILITIES)


def test_a_rerun_after_some_arrivals_vanished_keeps_theirs_and_replaces_the_rest(
    classified_night,
):
    warehouse, store = classified_night
    before = _night(warehouse)
    os.unlink(os.path.join(store.root, "incoming", "2026/03/14/coffee.png"))

    assert _classify(warehouse, store).success

    assert_same(before, _night(warehouse))


def test_clear_vanished_empties_the_night_only_when_asked(classified_night):
    warehouse, store = classified_night
    shutil.rmtree(os.path.join(store.root, "incoming", "2026"))

    result = _classify(warehouse, store, clear_vanished=True)

    assert result.success
    (mat,) = result.asset_materializations_for_node("nightly_classifications")
    assert mat.metadata["dropped_vanished"].value == 3
    assert warehouse.count(IMAGE_PREDICTIONS) == 0
    assert warehouse.count(IMAGE_PROBABILITIES) == 0
    assert _parquet(store, "predictions.parquet").empty


def test_vanished_results_of_another_model_fail_the_rerun_and_change_nothing(classified_night):
    warehouse, store = classified_night
    before = _night(warehouse)
    current = load_version(store, "models")
    os.unlink(os.path.join(store.root, "incoming", "2026/03/14/coffee.png"))
    retrained = _retrained(current)
    save_version(store, "models", retrained)  # becomes current

    result = _classify(warehouse, store)

    assert not result.success
    failure = result.failure_data_for_node("nightly_classifications")
    assert "no longer in the incoming container" in str(failure.error.message)
    assert "clear_vanished=true" in str(failure.error.message)
    assert_same(before, _night(warehouse))
    versions = warehouse.read_table(IMAGE_PREDICTIONS).model_version.unique()
    assert list(versions) == [current.version]
    assert store.exists("models", f"{MODEL_NAME}/{retrained.version}/model.onnx")


def test_a_missing_incoming_container_fails_clearly_and_replaces_nothing(classified_night):
    warehouse, store = classified_night
    before = _night(warehouse)
    shutil.rmtree(os.path.join(store.root, "incoming"))

    result = _classify(warehouse, store)

    assert not result.success
    failure = result.failure_data_for_node("nightly_classifications")
    assert "incoming container 'incoming' does not exist" in str(failure.error.message)
    assert_same(before, _night(warehouse))
