"""The 23:00 run classifies the evening's arrivals; calendar-day rows are migrated once."""

import io
from datetime import UTC, date, datetime

import dagster as dg
import pandas as pd

from assets.definitions import defs
from assets.inference.migrate import MIGRATION
from assets.tables import IMAGE_PREDICTIONS, IMAGE_PROBABILITIES, SCHEMA_MIGRATIONS
from tests.assets.test_classification import _arrive, _classify, trained  # noqa: F401
from tests.assets.test_split_and_publish import prepared  # noqa: F401
from tests.support.images import encode, photo

EVENING = date(2026, 3, 14)


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def _tick(when: datetime) -> str:
    # Resolved through the code location, as the daemon sees it (the job takes its partitions
    # from the nightly asset only once the definitions are resolved).
    schedule = defs.resolve_schedule_def("nightly_classification_schedule")
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=when)
        (request,) = schedule.evaluate_tick(context).run_requests
    return request.partition_key


def _dated(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(partition_date=pd.to_datetime(frame.partition_date).dt.date)


def _rows(warehouse, day: date) -> list[str]:
    predictions = warehouse.read_table(IMAGE_PREDICTIONS)
    return sorted(predictions[pd.to_datetime(predictions.partition_date).dt.date == day].blob_path)


def test_an_image_dropped_at_09_00_is_classified_by_that_evenings_23_00_run(trained):  # noqa: F811
    warehouse, store, _ = trained
    cat = encode(photo("chelsea.png").resize((300, 200)), quality=80)
    coffee = encode(photo("coffee.png").resize((200, 200)), quality=80)
    _arrive(store, "drop/late-last-night.jpg", coffee, _at(13, 23, 30))
    _arrive(store, "drop/morning.jpg", cat, _at(14, 9))
    _arrive(store, "drop/at-23.jpg", cat, _at(14, 23))  # the next evening's first arrival
    _arrive(store, "drop/before.jpg", coffee, _at(13, 22, 59))

    # The schedule's 23:00 tick on 14 March (a fixed clock) asks for the evening of 14 March.
    key = _tick(_at(14, 23))
    assert key == "2026-03-14"
    run = _classify(warehouse, store, date.fromisoformat(key))
    (mat,) = run.asset_materializations_for_node("nightly_classifications")
    assert mat.metadata["window"].value == (
        "2026-03-13T23:00:00+00:00 .. 2026-03-14T23:00:00+00:00"
    )
    assert _rows(warehouse, EVENING) == [
        "incoming/drop/late-last-night.jpg",
        "incoming/drop/morning.jpg",
    ]

    # The next evening and a late re-run of the earlier ones replace exactly their own rows.
    _classify(warehouse, store, date(2026, 3, 15))
    _classify(warehouse, store, date(2026, 3, 13))
    before = warehouse.read_table(IMAGE_PREDICTIONS).set_index("blob_path").classified_at
    _classify(warehouse, store, EVENING)
    after = warehouse.read_table(IMAGE_PREDICTIONS).set_index("blob_path").classified_at
    assert _rows(warehouse, date(2026, 3, 15)) == ["incoming/drop/at-23.jpg"]
    assert _rows(warehouse, date(2026, 3, 13)) == ["incoming/drop/before.jpg"]
    assert _rows(warehouse, EVENING) == [
        "incoming/drop/late-last-night.jpg",
        "incoming/drop/morning.jpg",
    ]
    others = ["incoming/drop/at-23.jpg", "incoming/drop/before.jpg"]
    assert after[others].tolist() == before[others].tolist()
    assert after["incoming/drop/morning.jpg"] > before["incoming/drop/morning.jpg"]


def test_rows_written_for_calendar_days_move_to_their_evening_once(trained):  # noqa: F811
    warehouse, store, _ = trained
    cat = encode(photo("chelsea.png").resize((300, 200)), quality=80)
    coffee = encode(photo("coffee.png").resize((200, 200)), quality=80)
    _arrive(store, "drop/noon.jpg", cat, _at(14, 12))
    _arrive(store, "drop/late.jpg", coffee, _at(14, 23, 30))
    # Classify the calendar day 14 March as the previous partitions did: both arrivals in one.
    _classify(warehouse, store, EVENING)
    _classify(warehouse, store, date(2026, 3, 15))
    predictions = _dated(warehouse.read_table(IMAGE_PREDICTIONS))
    probabilities = _dated(warehouse.read_table(IMAGE_PROBABILITIES))
    late = predictions[predictions.blob_path.str.endswith("late.jpg")].assign(
        partition_date=EVENING
    )
    legacy_predictions = pd.concat(
        [predictions[predictions.partition_date != date(2026, 3, 15)], late]
    )
    late_probs = probabilities[probabilities.image_id == late.image_id.iloc[0]].assign(
        partition_date=EVENING
    )
    legacy_probabilities = pd.concat(
        [probabilities[probabilities.partition_date != date(2026, 3, 15)], late_probs]
    )
    assert len(legacy_predictions) == 2 and len(legacy_probabilities) == 2 * len(late_probs)
    for spec in (IMAGE_PREDICTIONS, IMAGE_PROBABILITIES, SCHEMA_MIGRATIONS):
        warehouse.execute(f"DROP TABLE IF EXISTS {spec.name}")
    warehouse.insert_new(IMAGE_PREDICTIONS, legacy_predictions)
    warehouse.insert_new(IMAGE_PROBABILITIES, legacy_probabilities)
    assert _rows(warehouse, EVENING) == ["incoming/drop/late.jpg", "incoming/drop/noon.jpg"]

    # Any nightly run migrates first; here an unrelated evening.
    run = _classify(warehouse, store, date(2026, 3, 10))
    assert run.success
    assert _rows(warehouse, EVENING) == ["incoming/drop/noon.jpg"]
    assert _rows(warehouse, date(2026, 3, 15)) == ["incoming/drop/late.jpg"]
    probabilities = warehouse.read_table(IMAGE_PROBABILITIES)
    by_day = probabilities.groupby(pd.to_datetime(probabilities.partition_date).dt.date)
    assert set(by_day.get_group(EVENING).image_id) == {
        predictions[predictions.blob_path.str.endswith("noon.jpg")].image_id.iloc[0]
    }
    assert set(by_day.get_group(date(2026, 3, 15)).image_id) == {late.image_id.iloc[0]}
    parquet = store.read_bytes("predictions", "date=2026-03-15/predictions.parquet")
    assert list(pd.read_parquet(io.BytesIO(parquet)).blob_path) == ["incoming/drop/late.jpg"]
    (applied,) = warehouse.read_table(SCHEMA_MIGRATIONS).itertuples()
    assert applied.name == MIGRATION and applied.detail.startswith("1 prediction rows moved")

    # Applied once: the same rows after another run.
    snapshot = warehouse.read_table(IMAGE_PREDICTIONS).sort_values("blob_path").blob_path.tolist()
    _classify(warehouse, store, date(2026, 3, 10))
    assert (
        warehouse.read_table(IMAGE_PREDICTIONS).sort_values("blob_path").blob_path.tolist()
        == snapshot
    )
