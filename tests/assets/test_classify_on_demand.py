"""Classify on demand: the command line and classify_images_job, with the nightly's model path."""

import csv
import hashlib
import io
import json
from datetime import UTC, datetime, time

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from assets.classifier.registry import StoredModel, save_version
from assets.demo.digits import render_digits
from assets.inference.__main__ import main as classify_cli
from assets.inference.assets import NightlyConfig, nightly_classifications
from assets.inference.jobs import ClassifyImagesConfig, classify_images_job
from assets.model.train import train_classifier
from assets.tables import IMAGE_PROBABILITIES
from resources.blob_store import LocalBlobStore
from resources.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.assets.test_classification import DAY, _arrive
from tests.support.resources import platform_resources

DIGITS = render_digits(size=32)


@pytest.fixture(scope="module")
def digits_model() -> StoredModel:
    trained = train_classifier([(d.name, d.data, d.label) for d in DIGITS[:300]])
    return StoredModel(trained.onnx_bytes, trained.spec)


@pytest.fixture
def platform(platform_home, digits_model):
    """The code location's store and warehouse, with the digits model current."""
    store = LocalBlobStore(root=str(platform_home / "blobs"))
    save_version(store, "models", digits_model)
    return store, DuckDBWarehouse(path=str(platform_home / "warehouse.duckdb"))


def _files(folder, digits) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for digit in digits:
        (folder / f"{digit.label}_{digit.name}").write_bytes(digit.data)
    return sorted(str(p) for p in folder.iterdir())


def test_the_cli_prints_every_class_probability_summing_to_one(
    platform, digits_model, tmp_path, capsys
):
    store, _ = platform
    files = _files(tmp_path / "pictures", DIGITS[300:310])
    (tmp_path / "broken.png").write_bytes(DIGITS[0].data[:60])
    store.ensure_container("uploads")
    store.write_bytes("uploads", "day/one.png", DIGITS[310].data)

    code = classify_cli(
        [str(tmp_path / "pictures"), str(tmp_path / "broken.png"), "blob://uploads/day/"]
    )
    out, err = capsys.readouterr()
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["image"] for r in rows] == [*files, "blob://uploads/day/one.png"]
    classes = digits_model.spec.class_names
    for row in rows:
        probabilities = np.array([float(row[f"p_{c}"]) for c in classes])
        assert abs(probabilities.sum() - 1) < 1e-4
        assert row["predicted_label"] == classes[int(probabilities.argmax())]
        assert row["model_version"] == digits_model.version
    correct = [r["predicted_label"] == r["image"].rsplit("/", 1)[-1][0] for r in rows[:-1]]
    assert sum(correct) >= 8
    assert "broken.png: corrupt_data" in err or "broken.png: unidentified_format" in err

    assert classify_cli(["--format", "json", files[0]]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert set(record["probabilities"]) == set(classes)
    assert abs(sum(record["probabilities"].values()) - 1) < 1e-4


def test_the_cli_says_what_is_wrong(platform, tmp_path, capsys):
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    assert classify_cli([str(tmp_path / "broken.jpg"), str(tmp_path / "missing.png")]) == 1
    err = capsys.readouterr().err
    assert "broken.jpg: unidentified_format" in err
    assert "missing.png: not_found" in err
    assert classify_cli(["--model-version", "0123456789abcdef", str(tmp_path)]) == 1
    assert "no model version '0123456789abcdef'" in capsys.readouterr().err


def test_the_job_shows_thumbnails_and_the_nightly_probabilities(platform, digits_model):
    store, warehouse = platform
    noon = datetime.combine(DAY, time(12), tzinfo=UTC)
    for digit in DIGITS[320:323]:
        _arrive(store, f"2026/03/14/{digit.name}", digit.data, noon)
    _arrive(store, "2026/03/14/broken.png", DIGITS[0].data[:60], noon)
    night = dg.materialize(
        [nightly_classifications],
        partition_key=DAY.isoformat(),
        resources=platform_resources(warehouse, store),
        run_config=dg.RunConfig({"nightly_classifications": NightlyConfig()}),
    )
    assert night.success

    result = classify_images_job.execute_in_process(
        run_config=dg.RunConfig(
            {
                "classify_images": ClassifyImagesConfig(
                    paths=["incoming/2026/03/14/", "incoming/nope.png"]
                )
            }
        ),
        resources=platform_resources(blob_store=store),
    )
    assert result.success
    (output,) = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = output.event_specific_data.metadata
    assert metadata["images"].value == 5 and metadata["classified"].value == 3
    assert metadata["failed"].value == 2
    sheet = metadata["classifications"].value
    assert sheet.count("data:image/png;base64,") == 3
    assert "_not_found_" in sheet and "broken.png" in sheet

    # One code path: the job's probabilities are the nightly's for the same blobs.
    records = [
        r.data for r in metadata["probabilities"].value.records if "predicted_label" in r.data
    ]
    on_demand = pd.DataFrame(records).set_index("image")
    nightly = warehouse.read_table(IMAGE_PROBABILITIES)
    for name in (d.name for d in DIGITS[320:323]):
        row = on_demand.loc[f"blob://incoming/2026/03/14/{name}"]
        image_id = hashlib.sha256(store.read_bytes("incoming", f"2026/03/14/{name}")).hexdigest()
        expected = nightly[nightly.image_id == image_id].set_index("label").probability
        for label, probability in expected.items():
            assert row[f"p_{label}"] == pytest.approx(probability, abs=1e-6)


def test_the_job_fails_clearly_on_an_unknown_version(platform):
    store, _ = platform
    result = classify_images_job.execute_in_process(
        run_config=dg.RunConfig(
            {"classify_images": ClassifyImagesConfig(paths=["incoming/"], model_version="nope")}
        ),
        resources=platform_resources(blob_store=store),
        raise_on_error=False,
    )
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "no model version 'nope'" in failure
