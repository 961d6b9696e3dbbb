"""image_classifier and nightly_classifications on real images, a real store and onnxruntime."""

import io
import os
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pandas as pd
import pytest

from assets.classifier.registry import current_version
from assets.inference.assets import (
    CHECK_CLASS_MIX,
    CHECK_LOW_CONFIDENCE,
    CHECK_ONE_MODEL,
    CHECK_QUARANTINE_RATE,
    NightlyConfig,
    nightly_classifications,
    nightly_partitions_def,
)
from assets.inference.definitions import nightly_job, nightly_schedule
from assets.model.assets import ClassifierConfig, image_classifier
from assets.tables import IMAGE_PREDICTIONS, IMAGE_PROBABILITIES, QUARANTINED_IMAGES
from tests.assets.test_split_and_publish import _publish, _split, prepared  # noqa: F401
from tests.support.images import encode, photo
from tests.support.resources import platform_resources

DAY = date(2026, 3, 14)


@pytest.fixture
def trained(prepared, local_blob_store, platform_home):  # noqa: F811
    _split(prepared, ratio=0.5)
    for side in ("train", "test"):
        assert _publish(prepared, local_blob_store, side).success
    # A handful of Test images cannot show any accuracy floor; the gate has its own tests.
    result = dg.materialize(
        [image_classifier],
        resources=platform_resources(prepared, local_blob_store),
        run_config=dg.RunConfig({"image_classifier": ClassifierConfig(min_test_accuracy=0.0)}),
    )
    assert result.success
    (mat,) = result.asset_materializations_for_node("image_classifier")
    return prepared, local_blob_store, mat.metadata


def test_the_classifier_is_stored_under_its_content_address_and_evaluated(trained):
    _, store, metadata = trained
    version = metadata["model_version"].value
    assert current_version(store, "models") == version
    names = {b.name for b in store.list_blobs("models", f"image-classifier/{version}/")}
    assert {f"image-classifier/{version}/{f}" for f in ("model.onnx", "spec.json")} <= names
    assert f"image-classifier/{version}/confusion_matrix.png" in names
    assert 0.0 <= metadata["accuracy"].value <= 1.0
    assert "data:image/png;base64," in metadata["confusion_matrix_plot"].value


def _arrive(store, name: str, data: bytes, when: datetime) -> None:
    store.ensure_container("incoming")
    store.write_bytes("incoming", name, data)
    path = os.path.join(store.root, "incoming", name)
    os.utime(path, (when.timestamp(), when.timestamp()))


def _classify(warehouse, store, day=DAY):
    return dg.materialize(
        [nightly_classifications],
        partition_key=day.isoformat(),
        resources=platform_resources(warehouse, store),
        run_config=dg.RunConfig({"nightly_classifications": NightlyConfig(batch_size=2)}),
    )


def test_a_night_classifies_that_days_arrivals_and_a_rerun_replaces_them_exactly(trained):
    warehouse, store, _ = trained
    noon = datetime.combine(DAY, time(12), tzinfo=UTC)
    cat = encode(photo("chelsea.png").resize((300, 200)), quality=80)
    _arrive(store, "2026/03/14/cat.jpg", cat, noon)
    _arrive(store, "2026/03/14/cat-again.jpg", cat, noon)
    _arrive(store, "2026/03/14/coffee.png", encode(photo("coffee.png"), "PNG"), noon)
    _arrive(store, "2026/03/14/broken.jpg", cat[:500], noon)
    _arrive(store, "2026/03/15/tomorrow.jpg", cat, datetime(2026, 3, 15, 1, tzinfo=UTC))

    first = _classify(warehouse, store)
    (mat,) = first.asset_materializations_for_node("nightly_classifications")
    assert mat.metadata["arrived"].value == 4 and mat.metadata["quarantined"].value == 1
    assert mat.metadata["classified"].value == 2  # two distinct decodable contents
    checks = {c.check_name: c for c in first.get_asset_check_evaluations()}
    assert not checks[CHECK_QUARANTINE_RATE].passed  # 1 of 4 arrivals undecodable
    assert checks[CHECK_QUARANTINE_RATE].severity == dg.AssetCheckSeverity.WARN
    assert checks[CHECK_ONE_MODEL].passed
    assert checks[CHECK_CLASS_MIX].passed  # three predictions cannot judge a class mix
    assert checks[CHECK_LOW_CONFIDENCE].metadata["predictions"].value == 3
    sheet = mat.metadata["review_sheet"].value
    assert sheet.count("data:image/png;base64,") == 3  # the three classified arrivals
    assert "python -m assets.reviews confirm incoming/2026/03/14/cat.jpg" in sheet
    template = store.read_bytes("predictions", "date=2026-03-14/review_template.csv").decode()
    assert template.startswith("blob_path,image_id,predicted_label,probability,label")
    predictions = warehouse.read_table(IMAGE_PREDICTIONS)
    assert sorted(predictions.blob_path) == [
        "incoming/2026/03/14/cat-again.jpg",
        "incoming/2026/03/14/cat.jpg",
        "incoming/2026/03/14/coffee.png",
    ]
    assert predictions.groupby("image_id").predicted_label.nunique().max() == 1
    probabilities = warehouse.read_table(IMAGE_PROBABILITIES)
    classes = probabilities.label.nunique()
    assert len(probabilities) == 2 * classes
    sums = probabilities.groupby("image_id").probability.sum()
    assert ((sums - 1.0).abs() < 1e-4).all()
    quarantine = warehouse.read_table(QUARANTINED_IMAGES)
    assert list(quarantine[quarantine.stage == "classify"].name) == ["broken.jpg"]
    parquet = store.read_bytes("predictions", "date=2026-03-14/predictions.parquet")
    assert len(pd.read_parquet(io.BytesIO(parquet))) == 3

    second = _classify(warehouse, store)
    (again,) = second.asset_materializations_for_node("nightly_classifications")
    assert again.metadata["reused"].value == 3 and again.metadata["classified"].value == 0
    assert warehouse.count(IMAGE_PREDICTIONS) == 3
    assert warehouse.count(IMAGE_PROBABILITIES) == 2 * classes
    with duckdb.connect(warehouse.path) as con:
        (n,) = con.execute("SELECT COUNT(*) FROM quarantined_images").fetchone()
    assert n == len(warehouse.read_table(QUARANTINED_IMAGES))


def test_a_night_without_a_model_fails_with_a_clear_message(warehouse, local_blob_store):
    with pytest.raises(LookupError, match="materialise image_classifier first"):
        _classify(warehouse, local_blob_store)


@pytest.mark.parametrize(
    ("tz", "tick", "expected"),
    [
        ("UTC", datetime(2026, 11, 21, 23, 0, tzinfo=UTC), "2026-11-21"),
        (
            "Pacific/Auckland",
            datetime(2026, 11, 21, 23, 0, tzinfo=ZoneInfo("Pacific/Auckland")),
            "2026-11-21",
        ),
    ],
)
def test_the_23_00_tick_requests_the_evening_that_is_ending_in_the_configured_timezone(
    tz, tick, expected
):
    # The schedule is built from the job's partitions, exactly as the code location builds it.
    partitions = nightly_partitions_def(tz)

    @dg.asset(name="nightly_classifications", partitions_def=partitions)
    def stand_in() -> None: ...

    job = nightly_job(stand_in)
    defs = dg.Definitions(assets=[stand_in], jobs=[job], schedules=[nightly_schedule(job)])
    schedule = defs.resolve_schedule_def("nightly_classification_schedule")
    assert schedule.cron_schedule == "0 23 * * *" and schedule.execution_timezone == tz
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
        result = schedule.evaluate_tick(context)
    (request,) = result.run_requests
    assert request.partition_key == expected
