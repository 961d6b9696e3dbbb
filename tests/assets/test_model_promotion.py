"""The promotion gate, manual promotion and rollback, on rendered digits and a real store."""

from datetime import UTC, datetime, time

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from assets.classifier.registry import current_version
from assets.demo.digits import render_digits
from assets.inference.assets import NightlyConfig, nightly_classifications
from assets.model.__main__ import main as model_cli
from assets.model.assets import (
    CHECK_NO_WORSE,
    CHECK_TEST_ACCURACY,
    ClassifierConfig,
    image_classifier,
)
from assets.model.jobs import PromoteModelConfig, promote_model_job
from assets.tables import IMAGE_PREDICTIONS, MODEL_EVALUATIONS, MODEL_PROMOTIONS, PUBLISHED_IMAGES
from resources.blob_store import LocalBlobStore
from resources.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.assets.test_classification import DAY, _arrive
from tests.support.resources import platform_resources

TRAIN, TEST = 300, 150


@pytest.fixture
def digits_published(platform_home):
    """300 Train and 150 Test digits published where the code location's resources look."""
    warehouse = DuckDBWarehouse(path=str(platform_home / "warehouse.duckdb"))
    store = LocalBlobStore(root=str(platform_home / "blobs"))
    store.ensure_container("images")
    rows = []
    for i, digit in enumerate(render_digits(size=32)[: TRAIN + TEST]):
        split = "train" if i < TRAIN else "test"
        blob = f"{split.title()}/{digit.label}/{digit.name}"
        store.write_bytes("images", blob, digit.data)
        rows.append(
            {"split": split, "image_id": f"{i:064x}", "blob_name": blob, "label": digit.label}
        )
    published = pd.DataFrame(rows).reindex(columns=PUBLISHED_IMAGES.column_names)
    warehouse.insert_new(PUBLISHED_IMAGES, published)
    return warehouse, store


def _train(warehouse, store, **config):
    return dg.materialize(
        [image_classifier],
        resources=platform_resources(warehouse, store),
        run_config=dg.RunConfig({"image_classifier": ClassifierConfig(**config)}),
        raise_on_error=False,
    )


def _shuffle_train_labels(warehouse) -> None:
    train = warehouse.read_table(PUBLISHED_IMAGES)
    train = train[train.split == "train"].copy()
    train["label"] = np.random.default_rng(0).permutation(train.label.to_numpy())
    warehouse.upsert(PUBLISHED_IMAGES, train)


def _checks(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def _promote(warehouse, store, **config):
    return promote_model_job.execute_in_process(
        run_config=dg.RunConfig({"change_current_model": PromoteModelConfig(**config)}),
        resources=platform_resources(warehouse, store),
        raise_on_error=False,
    )


def test_a_worse_model_stays_a_candidate_and_the_nightly_keeps_the_current_one(
    digits_published,
):
    warehouse, store = digits_published
    first = _train(warehouse, store)
    assert first.success
    (mat,) = first.asset_materializations_for_node("image_classifier")
    good = mat.metadata["model_version"].value
    assert mat.metadata["decision"].value == "promoted"
    assert current_version(store, "models") == good
    assert mat.metadata["accuracy"].value > 0.8

    # The same Test side, a Train side whose labels were shuffled: a worse model.
    _shuffle_train_labels(warehouse)
    second = _train(warehouse, store)
    assert not second.success  # blocking checks failed: the run says so in red
    (mat,) = second.asset_materializations_for_node("image_classifier")
    bad = mat.metadata["model_version"].value
    assert bad != good
    assert mat.metadata["decision"].value == "candidate"
    assert current_version(store, "models") == good
    checks = _checks(second)
    assert not checks[CHECK_TEST_ACCURACY].passed
    assert not checks[CHECK_NO_WORSE].passed
    assert checks[CHECK_NO_WORSE].severity == dg.AssetCheckSeverity.ERROR
    # The current model was re-scored on today's Test side, the very images the candidate saw.
    assert checks[CHECK_NO_WORSE].metadata["compared_images"].value == TEST
    assert checks[CHECK_NO_WORSE].metadata[
        "current_model_accuracy_same_test"
    ].value == pytest.approx(
        first.asset_materializations_for_node("image_classifier")[0].metadata["accuracy"].value,
        abs=1e-4,
    )
    reason = mat.metadata["decision_reason"].value
    assert "kept as a candidate" in reason and f"worse than the current model {good}" in reason

    # Without the floor, the comparison alone keeps it out.
    third = _train(warehouse, store, min_test_accuracy=0.0)
    assert not third.success
    assert _checks(third)[CHECK_TEST_ACCURACY].passed
    assert not _checks(third)[CHECK_NO_WORSE].passed
    assert current_version(store, "models") == good

    evaluations = warehouse.read_table(MODEL_EVALUATIONS).sort_values("evaluated_at")
    assert list(evaluations.decision) == ["promoted", "candidate", "candidate"]
    assert list(evaluations.model_version) == [good, bad, bad]
    assert list(warehouse.read_table(MODEL_PROMOTIONS).model_version) == [good]

    # The night classifies with the model that passed, not the latest one.
    noon = datetime.combine(DAY, time(12), tzinfo=UTC)
    _arrive(store, "2026/03/14/seven.png", render_digits(size=32)[TRAIN + TEST].data, noon)
    night = dg.materialize(
        [nightly_classifications],
        partition_key=DAY.isoformat(),
        resources=platform_resources(warehouse, store),
        run_config=dg.RunConfig({"nightly_classifications": NightlyConfig()}),
    )
    assert night.success
    assert set(warehouse.read_table(IMAGE_PREDICTIONS).model_version) == {good}


def test_manual_promotion_and_rollback_are_recorded_by_job_and_cli(digits_published, capsys):
    warehouse, store = digits_published
    assert _train(warehouse, store).success
    good = current_version(store, "models")
    _shuffle_train_labels(warehouse)
    bad_run = _train(warehouse, store)
    bad = (
        bad_run.asset_materializations_for_node("image_classifier")[0]
        .metadata["model_version"]
        .value
    )

    promoted = _promote(
        warehouse, store, version=bad, reason="try it on tonight's batch", promoted_by="ana"
    )
    assert promoted.success
    assert current_version(store, "models") == bad
    (observation,) = [
        e.event_specific_data.asset_observation
        for e in promoted.all_events
        if e.event_type_value == "ASSET_OBSERVATION"
    ]
    assert observation.metadata["current_model_version"].value == bad

    # Rollback by CLI, without naming the version: the one current before.
    assert model_cli(["rollback", "--reason", "worse on the night", "--by", "ben"]) == 0
    assert current_version(store, "models") == good
    assert f"-> {good}" in capsys.readouterr().out

    history = warehouse.read_table(MODEL_PROMOTIONS).sort_values("promoted_at")
    assert list(history.action) == ["gate", "promote", "rollback"]
    assert list(history.model_version) == [good, bad, good]
    assert list(history.previous_version.fillna("")) == ["", good, bad]
    assert list(history.promoted_by)[1:] == ["ana", "ben"]
    assert history.reason.iloc[1] == "try it on tonight's batch"
    assert history.accuracy.iloc[1] < 0.5  # the metrics the person promoted against

    assert model_cli(["list"]) == 0
    listing = capsys.readouterr().out
    assert f"{good},True,promoted" in listing and f"{bad},False,candidate" in listing


def test_unknown_versions_and_missing_reasons_change_nothing(digits_published, capsys):
    warehouse, store = digits_published
    assert _train(warehouse, store).success
    good = current_version(store, "models")

    assert model_cli(["promote", "f" * 16, "--reason", "typo"]) == 1
    assert "no model version 'ffffffffffffffff'" in capsys.readouterr().err
    assert model_cli(["promote", good, "--reason", "again"]) == 1
    assert "already the current model" in capsys.readouterr().err
    assert model_cli(["rollback", "--reason", "nothing before it"]) == 1
    assert "no version recorded as current before" in capsys.readouterr().err
    failed = _promote(warehouse, store, version="nope", reason="x")
    assert not failed.success
    assert "no model version 'nope'" in str(failed.get_step_failure_events()[0].event_specific_data)
    failed = _promote(warehouse, store, version=good, reason="  ")
    assert not failed.success

    assert current_version(store, "models") == good
    assert warehouse.count(MODEL_PROMOTIONS) == 1
