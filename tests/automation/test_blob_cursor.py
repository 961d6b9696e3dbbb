"""The new-blobs sensor's cursor: nothing missed, nothing taken twice."""

from datetime import UTC, datetime, timedelta

from assets.automation.cursor import BlobCursor, batch_id, listing_prefixes, plan_tick
from resources.blobs import BlobInfo

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
LOOKBACK = timedelta(minutes=2)


def blob(name: str, seconds: float, etag: str = "e1") -> BlobInfo:
    return BlobInfo("incoming", name, 10, T0 + timedelta(seconds=seconds), etag)


def names(plan) -> list[str]:
    return [b.name for batch in plan.batches for b in batch]


def test_new_blobs_are_taken_once_and_the_same_listing_then_yields_nothing():
    listing = [blob("a.jpg", 0), blob("b.jpg", 1)]
    first = plan_tick(listing, BlobCursor(), LOOKBACK, 500, 10)
    assert names(first) == ["a.jpg", "b.jpg"]
    assert first.cursor.low_water == T0 + timedelta(seconds=1)
    again = plan_tick(listing, BlobCursor.from_json(first.cursor.to_json()), LOOKBACK, 500, 10)
    assert again.batches == [] and again.considered == 2


def test_a_blob_that_shows_up_late_with_an_older_timestamp_inside_the_window_is_taken():
    first = plan_tick([blob("a.jpg", 60)], BlobCursor(), LOOKBACK, 500, 10)
    late = [blob("a.jpg", 60), blob("same_second.jpg", 60), blob("skewed.jpg", -30)]
    second = plan_tick(late, first.cursor, LOOKBACK, 500, 10)
    assert names(second) == ["skewed.jpg", "same_second.jpg"]
    assert second.cursor.low_water == T0 + timedelta(seconds=60)


def test_an_overwritten_blob_is_new_content_and_an_old_blob_outside_the_window_is_not():
    first = plan_tick([blob("a.jpg", 0), blob("b.jpg", 300)], BlobCursor(), LOOKBACK, 500, 10)
    assert "a.jpg" not in first.cursor.seen  # pruned: older than the window
    listing = [blob("a.jpg", 0), blob("b.jpg", 400, etag="e2")]
    second = plan_tick(listing, first.cursor, LOOKBACK, 500, 10)
    assert names(second) == ["b.jpg"] and second.cursor.seen["b.jpg"][0] == "e2"


def test_deleted_blobs_leave_the_cursor_without_breaking_a_tick():
    first = plan_tick([blob("a.jpg", 0), blob("b.jpg", 1)], BlobCursor(), LOOKBACK, 500, 10)
    second = plan_tick([blob("c.jpg", 2)], first.cursor, LOOKBACK, 500, 10)
    assert names(second) == ["c.jpg"]
    third = plan_tick([], second.cursor, LOOKBACK, 500, 10)
    assert third.batches == [] and third.cursor.low_water == T0 + timedelta(seconds=2)


def test_batches_are_capped_and_what_is_left_comes_on_the_next_tick_exactly_once():
    listing = [blob(f"{i:03d}.jpg", i // 10) for i in range(45)]
    first = plan_tick(listing, BlobCursor(), LOOKBACK, max_batch=10, max_batches=2)
    assert [len(b) for b in first.batches] == [10, 10] and first.waiting == 25
    taken = names(first)
    cursor = first.cursor
    while True:
        plan = plan_tick(listing, cursor, LOOKBACK, max_batch=10, max_batches=2)
        if not plan.batches:
            break
        taken += names(plan)
        cursor = plan.cursor
    assert sorted(taken) == [b.name for b in listing]


def test_hidden_files_are_skipped_and_reported_once_and_folder_markers_are_ignored():
    listing = [
        blob("drop/.tmp-1", 0),
        blob("drop/.cache/z.jpg", 0),
        blob("drop/Thumbs.db", 0),
        blob("drop/x/", 0),
        blob("drop/y.jpg", 0),
    ]
    plan = plan_tick(listing, BlobCursor(), LOOKBACK, 500, 10, prefix="drop/")
    assert names(plan) == ["drop/y.jpg"]
    assert plan.skipped == [
        ("drop/.cache/z.jpg", "hidden"),
        ("drop/.tmp-1", "hidden"),
        ("drop/Thumbs.db", "system_file"),
    ]
    # Reported once: the next tick over the same listing has nothing to say.
    again = plan_tick(listing, plan.cursor, LOOKBACK, 500, 10, prefix="drop/")
    assert again.batches == [] and again.skipped == []
    # Hidden blobs alone are reported too, and an overwritten one is reported again.
    alone = plan_tick([blob("drop/.x.jpg", 1)], plan.cursor, LOOKBACK, 500, 10, prefix="drop/")
    assert alone.batches == [] and alone.skipped == [("drop/.x.jpg", "hidden")]
    changed = [blob("drop/.x.jpg", 2, etag="e2")]
    assert plan_tick(changed, alone.cursor, LOOKBACK, 500, 10, prefix="drop/").skipped == [
        ("drop/.x.jpg", "hidden")
    ]


def test_the_batch_id_depends_on_names_and_etags_not_on_order():
    a, b = blob("a.jpg", 0), blob("b.jpg", 1)
    assert batch_id([a, b]) == batch_id([b, a])
    assert batch_id([a, b]) != batch_id([a, blob("b.jpg", 1, etag="e2")])


def test_a_dated_layout_lists_only_the_days_from_the_low_water_mark_on():
    now = T0 + timedelta(days=2)
    prefixes = listing_prefixes("in/", "%Y/%m/%d", T0, LOOKBACK, now)
    assert prefixes == [f"in/2026/{m}/" for m in ("06/30", "07/01", "07/02", "07/03", "07/04")]
    assert listing_prefixes("in/", "%Y/%m/%d", None, LOOKBACK, now) == ["in/"]
    assert listing_prefixes("in/", "", T0, LOOKBACK, now) == ["in/"]
    far = listing_prefixes("in/", "%Y/%m/%d", T0 - timedelta(days=400), LOOKBACK, now)
    assert far == ["in/"]
