"""Every warehouse table the Python assets write, in one place (dbt models live in dbt/)."""

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from resources.warehouse.schema import Column, TableSpec

if TYPE_CHECKING:  # pyarrow loads with the step that writes hashes, not with the code location
    import pyarrow as pa


def key_column(
    name: str, of: str, why: str = "its key (blob names reach 1,024 characters)."
) -> Column:
    """The key of a text too long to index: the SHA-256 (hex) of column ``of``, filled in on
    every write."""
    return Column(name, "string", f"SHA-256 of {of} (hex): {why}", False, 64, derived_from=of)


IMAGE_ID = Column("image_id", "string", "SHA-256 of the file bytes (hex).", False, 64)
SOURCE_URI = Column(
    "source_uri", "string", "Where the bytes were read (file or blob URL), in full.", False
)
SOURCE_KEY = key_column(
    "source_key",
    "source_uri",
    "the location's key. URIs can be thousands of bytes long (a 1,024-character blob name, "
    "percent-escaped), too long for an index key on Azure SQL.",
)
# Columns of a source file that the catalog and the quarantine describe alike.
FILE_NAME = Column("name", "string", "File name as found at the source.")
BYTE_SIZE = Column("byte_size", "int64", "File size in bytes.")
LAST_MODIFIED = Column("last_modified", "timestamp", "Source last-modified time (UTC).")
# The model behind a nightly prediction, in both nightly tables.
MODEL_VERSION_USED = Column(
    "model_version", "string", "Content address of the ONNX model used.", False, 64
)

# Photo metadata from EXIF (added to existing catalogs in place; rows catalogued before stay NULL).
PHOTO_COLUMNS = (
    Column(
        "captured_at",
        "string",
        "EXIF DateTimeOriginal in ISO 8601, camera local time (with its UTC offset when the "
        "camera recorded one); null when absent or unreadable.",
    ),
    Column("camera_make", "string", "EXIF Make."),
    Column("camera_model", "string", "EXIF Model."),
    Column("has_gps", "bool", "The file carries a GPS position (null: EXIF unreadable)."),
    Column(
        "gps_latitude",
        "float64",
        "Decimal degrees, south negative; recorded only when the catalog is configured to.",
    ),
    Column("gps_longitude", "float64", "Decimal degrees, west negative; as gps_latitude."),
    Column("exif_problem", "string", "Why some EXIF could not be read (the file still counts)."),
)

_CATALOG_COLUMNS = (
    IMAGE_ID,
    SOURCE_KEY,
    SOURCE_URI,
    FILE_NAME,
    Column("label", "string", "Label: the first folder under the source root."),
    Column("width", "int32", "Width in pixels as stored (before EXIF orientation)."),
    Column("height", "int32", "Height in pixels as stored (before EXIF orientation)."),
    Column("format", "string", "Encoding detected from the bytes (JPEG, PNG, GIF, ...)."),
    Column("mode", "string", "Pillow colour mode (RGB, L, P, RGBA, CMYK, I;16, 1 ...)."),
    BYTE_SIZE,
    Column("exif_orientation", "int32", "EXIF orientation tag 1..8, null when absent."),
    Column("frame_count", "int32", "Number of frames (1 for still images)."),
    Column("is_animated", "bool", "True for multi-frame files; only frame 1 is hashed."),
    LAST_MODIFIED,
    Column("ingested_at", "timestamp", "When this row was catalogued (UTC)."),
    *PHOTO_COLUMNS,
)

RAW_IMAGES = TableSpec(
    name="raw_images",
    description=(
        "The image catalog: one current row per source location, describing the content found "
        "there now. The same bytes at two locations are two rows with one image_id (an exact "
        "duplicate, hashed once). A location whose file was overwritten or deleted moves its "
        "row to raw_images_history, so every stage downstream sees only what the sources hold."
    ),
    columns=_CATALOG_COLUMNS,
    primary_key=("source_key",),
    indexes=(("image_id",),),
    added_columns=tuple(c.name for c in PHOTO_COLUMNS),
    # Older catalogs hold several rows per location: raw_images splits them into current rows
    # and history (assets.ingest.assets.migrate_catalog).
    migrated_by="raw_images",
)

RAW_IMAGES_HISTORY = TableSpec(
    name="raw_images_history",
    description=(
        "Catalog rows that no longer describe their location: the file was overwritten with "
        "other content, replaced by something that is not an image, or deleted. Kept with when "
        "and why, never read by the stages downstream."
    ),
    columns=(
        *_CATALOG_COLUMNS,
        Column("retired_at", "timestamp", "When the row left the catalog (UTC).", False),
        Column("retired_reason", "string", "overwritten, not_an_image_now or deleted.", False, 32),
        Column("replaced_by", "string", "image_id of the content now at the location, if any."),
    ),
    primary_key=("source_key", "image_id", "retired_at"),
)

QUARANTINED_IMAGES = TableSpec(
    name="quarantined_images",
    description=(
        "Inputs the platform could not use, with the reason. Nothing is dropped silently: every "
        "file a stage could not process is here, keyed by its bytes and location."
    ),
    columns=(
        Column(
            "image_id",
            "string",
            "SHA-256 of the bytes that failed (of no bytes when the file was never read: "
            "too_large, vanished, unreadable).",
            False,
            64,
        ),
        SOURCE_KEY,
        SOURCE_URI,
        Column("stage", "string", "Which step rejected it: catalog, hash, classify.", False, 32),
        FILE_NAME,
        Column("label", "string", "Label folder, when there is one."),
        BYTE_SIZE,
        LAST_MODIFIED,
        Column("reason", "string", "Stable reason code, e.g. corrupt_data, unidentified_format."),
        Column("detail", "string", "Human-readable explanation."),
        Column("quarantined_at", "timestamp", "When the input was quarantined (UTC)."),
    ),
    primary_key=("image_id", "source_key", "stage"),
)

# Longer explanations (a decoder's message on hostile bytes) are cut to this many characters.
MAX_QUARANTINE_DETAIL = 2000


def quarantine_row(
    *,
    image_id: str,
    source_uri: str,
    stage: str,
    reason: str,
    detail: str,
    at: datetime,
    name: str | None = None,
    label: str | None = None,
    byte_size: int | None = None,
    last_modified: datetime | None = None,
) -> dict:
    """One row of ``quarantined_images``: the input a stage could not use, and why."""
    return {
        "image_id": image_id,
        "source_uri": source_uri,
        "stage": stage,
        "name": name,
        "label": label,
        "byte_size": byte_size,
        "last_modified": last_modified,
        "reason": reason,
        "detail": detail[:MAX_QUARANTINE_DETAIL],
        "quarantined_at": at,
    }


HASH_SIZES = tuple(range(1, 9))

# The probe hashes of the content box (assets/hashing/engine.py PROBES), with what each covers.
PROBE_COLUMNS = (
    ("area", "the whole content box"),
    ("centre", "the central 80 % of the content box"),
    ("cut_top", "the content box without its top 5 %"),
    ("cut_bottom", "the content box without its bottom 5 %"),
    ("cut_left", "the content box without its left 5 %"),
    ("cut_right", "the content box without its right 5 %"),
)

# The content box (the picture inside solid borders) and its size-8 hash: see
# assets/hashing/engine.py (CONTENT_* codes, tolerance and minimum size).
CONTENT_COLUMNS = (
    Column(
        "content",
        "string",
        "What the hashes can link: whole (no border), trimmed (borders trimmed), small_box / "
        "flat_box (box too small or flat: no trimmed hash), flat / blank / too_small (no picture "
        "to compare: the image takes no hash link at all).",
        length=16,
    ),
    Column("content_x0", "int32", "Content box left edge, in hashed (oriented) pixels."),
    Column("content_y0", "int32", "Content box top edge, in hashed (oriented) pixels."),
    Column("content_x1", "int32", "Content box right edge (exclusive)."),
    Column("content_y1", "int32", "Content box bottom edge (exclusive)."),
    Column(
        "DHashHex8Trim",
        "string",
        "Size-8 dHash of the content box (DHashHex8 format); equals DHashHex8 when nothing was "
        "trimmed, null when the box may not link.",
        length=32,
    ),
    Column("dhash8_trim_row", "int64", "Trimmed size-8 row hash (signed 64-bit), or null."),
    Column("dhash8_trim_col", "int64", "Trimmed size-8 column hash (signed 64-bit), or null."),
    *(
        Column(
            f"dhash8_{probe}_{part}",
            "int64",
            f"Probe hash {probe} ({part}, signed 64-bit): size-8 difference hash of {what}, "
            "resampled by area means (not DHashHex8's resize); null when too flat or unlinkable.",
        )
        for probe, what in PROBE_COLUMNS
        for part in ("row", "col")
    ),
)

IMAGE_HASHES = TableSpec(
    name="image_hashes",
    description=(
        "Difference hashes of every catalogued image content, at sizes 1..8, in the lab's format "
        "(DHashHex<s> = dhash.format_hex(row, col, s)), plus each size's row and column hashes as "
        "integers: group on those, because the lab's hex format pads each half to s*s//4 digits "
        "and is therefore ambiguous for sizes 1, 2, 3, 5, 6 and 7 (e.g. size 3: row 0x10 + col "
        "0x1ab and row 0x101 + col 0xab both print 101ab). Size-8 halves are signed 64-bit so "
        "DuckDB and T-SQL BIGINT hold them; Hamming distance is bit_count(xor(a, b))."
    ),
    columns=(
        IMAGE_ID,
        *(
            Column(
                f"DHashHex{s}",
                "string",
                f"Size-{s} dHash: {s * s}-bit row hash then column hash, "
                f"{2 * ((s * s + 3) // 4)} hex digits.",
                length=32,
            )
            for s in HASH_SIZES
        ),
        *(
            Column(
                f"dhash{s}_{part}",
                "int64",
                f"Size-{s} {part} hash as an integer"
                + (
                    " (the unsigned 64-bit value reinterpreted as signed, two's complement)."
                    if s == 8
                    else f" ({s * s} bits, non-negative)."
                ),
            )
            for s in HASH_SIZES
            for part in ("row", "col")
        ),
        Column("hash_mode", "string", "exact (bit-identical to the dhash package) or fast."),
        Column(
            "hash_version",
            "string",
            "Algorithm version; a change re-hashes every image.",
            length=64,  # a key column of image_hashes_handoff: bounded for Azure SQL
        ),
        Column("hashed_at", "timestamp", "When the hashes were computed (UTC)."),
        *CONTENT_COLUMNS,
    ),
    primary_key=("image_id",),
    added_columns=tuple(c.name for c in CONTENT_COLUMNS),
)

IMAGE_HASHES_HANDOFF = TableSpec(
    name="image_hashes_handoff",
    description=(
        "Hashes computed by raw_images from the bytes it read to catalogue a new image, when "
        "image_hashes runs in the same run: image_hashes takes them over (moves the rows of an "
        "accepted version into image_hashes) instead of reading the image a second time, and "
        "hashes the rest itself. A cache between two steps, never read by anything else: rows "
        "left behind (another version, a run that stopped) only cost a read later."
    ),
    columns=IMAGE_HASHES.columns,
    primary_key=("image_id", "hash_version"),
    added_columns=IMAGE_HASHES.added_columns,
)


def image_hashes_table(hashed: Sequence[tuple[str, Any, datetime]]) -> "pa.Table":
    """image_hashes rows (every column of ``IMAGE_HASHES``, in order) for ``(image_id, the
    engine's HashResult, hashed_at)`` triples, as an Arrow table the warehouse stages as it is.

    Built column by column, never a dict per row and a DataFrame: raw_images writes one batch of
    these behind its hashing workers, and per-row Python there is taken from them. Integer
    columns stay exact (a null, e.g. a blank image's trimmed hash, never turns a column into
    floats); unsigned 64-bit words become signed 64-bit (two's complement), as DuckDB and
    T-SQL BIGINT hold them.
    """
    import pyarrow as pa

    results = [result for _, result, _ in hashed]

    def signed(words: list[int | None]) -> pa.Array:
        return pa.array(words, pa.uint64()).cast(pa.int64(), safe=False)

    def strings(values: list[str | None]) -> pa.Array:
        return pa.array(values, pa.string())

    columns: dict[str, pa.Array] = {"image_id": strings([image_id for image_id, _, _ in hashed])}
    for size in HASH_SIZES:
        columns[f"DHashHex{size}"] = strings([r.hex(size) for r in results])
    for size in HASH_SIZES:
        words = [r.words(size) for r in results]
        columns[f"dhash{size}_row"] = signed([row for row, _ in words])
        columns[f"dhash{size}_col"] = signed([col for _, col in words])
    columns["hash_mode"] = strings([r.mode for r in results])
    columns["hash_version"] = strings([r.algorithm_version for r in results])
    columns["hashed_at"] = pa.array([at for _, _, at in hashed], pa.timestamp("us", tz="UTC"))
    columns["content"] = strings([r.content for r in results])
    boxes = [r.content_box or (None, None, None, None) for r in results]
    for i, name in enumerate(("content_x0", "content_y0", "content_x1", "content_y1")):
        columns[name] = pa.array([box[i] for box in boxes], pa.int32())
    columns["DHashHex8Trim"] = strings([r.trim_hex for r in results])
    columns["dhash8_trim_row"] = signed([r.trim_row for r in results])
    columns["dhash8_trim_col"] = signed([r.trim_col for r in results])
    for probe, _ in PROBE_COLUMNS:
        pairs = [r.probe(probe) for r in results]  # signed already, or None
        columns[f"dhash8_{probe}_row"] = pa.array([p[0] if p else None for p in pairs], pa.int64())
        columns[f"dhash8_{probe}_col"] = pa.array([p[1] if p else None for p in pairs], pa.int64())
    assert list(columns) == IMAGE_HASHES.column_names, "image_hashes_table must follow the spec"
    return pa.table(columns)


TRAIN_TEST_SPLIT = TableSpec(
    name="train_test_split",
    description=(
        "Train or test for every image, decided per duplicate group (all members follow their "
        "representative), stratified by label, from a stored seeded random value so reruns and "
        "new images never reshuffle earlier assignments."
    ),
    columns=(
        IMAGE_ID,
        Column("group_id", "string", "Duplicate group (duplicate_groups.group_id).", False, 64),
        Column("label", "string", "The group's label (its representative's)."),
        Column("is_representative", "bool", "True for the kept image of the group."),
        Column("split", "string", "train or test.", False, 8),
        Column("random_value", "float64", "The group's stored value in [0, 1) from seed+group."),
        Column("seed", "int64", "Seed the value was drawn with."),
        Column("train_ratio", "float64", "Target train share when the image was assigned."),
        Column("assigned_at", "timestamp", "When this image first got its side (UTC)."),
    ),
    primary_key=("image_id",),
)

PUBLISHED_IMAGES = TableSpec(
    name="published_images",
    description=(
        "What is published where: one row per kept image per side, with its blob path, MD5 and "
        "etag at upload, or the reason it was not published (format, animated)."
    ),
    columns=(
        Column("split", "string", "train or test (the partition).", False, 8),
        IMAGE_ID,
        Column("blob_name", "string", "Path in the publish container, null when skipped."),
        Column("status", "string", "published or skipped."),
        Column("reason", "string", "Why it was skipped (format_not_published, animated)."),
        Column("label", "string", "Label as catalogued."),
        Column("folder", "string", "The label's neutralised folder name in the blob path."),
        Column("format", "string", "Encoding (JPEG, PNG ...)."),
        Column("width", "int32", "Width in pixels."),
        Column("height", "int32", "Height in pixels."),
        Column("group_id", "string", "Duplicate group."),
        Column("source_uri", "string", "Where the bytes were read."),
        Column("md5", "string", "MD5 of the published bytes (hex)."),
        Column("etag", "string", "Blob etag after upload (unquoted)."),
        Column("byte_size", "int64", "Published size in bytes."),
        *(Column(f"DHashHex{s}", "string", f"Size-{s} dHash (lab format).") for s in HASH_SIZES),
        Column("published_at", "timestamp", "When this row was last confirmed (UTC)."),
    ),
    primary_key=("split", "image_id"),
)

IMAGE_PREDICTIONS = TableSpec(
    name="image_predictions",
    description=(
        "Nightly classification results: one row per image that arrived in the incoming "
        "container on a day (the partition), with the predicted label and its probability."
    ),
    columns=(
        Column("partition_date", "date", "The arrival day (daily partition) in the configured tz."),
        Column("blob_path", "string", "container/name of the arrived blob.", False),
        key_column("blob_key", "blob_path"),
        IMAGE_ID,
        Column("predicted_label", "string", "The most probable class."),
        Column("probability", "float64", "Probability of the predicted class."),
        MODEL_VERSION_USED,
        Column("reused", "bool", "True when an identical image's result was reused."),
        Column("last_modified", "timestamp", "Blob last-modified time (UTC)."),
        Column("classified_at", "timestamp", "When the prediction was computed (UTC)."),
    ),
    primary_key=("partition_date", "blob_key"),
    indexes=(("image_id", "model_version"),),
)

IMAGE_PROBABILITIES = TableSpec(
    name="image_probabilities",
    description="Per-class probabilities: one row per classified image and class, per day.",
    columns=(
        Column("partition_date", "date", "The arrival day (daily partition)."),
        IMAGE_ID,
        Column("label", "string", "Class name.", False, 200),
        Column("probability", "float64", "The model's probability for this class."),
        MODEL_VERSION_USED,
    ),
    primary_key=("partition_date", "image_id", "label", "model_version"),
)

MODEL_EVALUATIONS = TableSpec(
    name="model_evaluations",
    description=(
        "The promotion gate's decision for every trained or registered classifier: its Test "
        "accuracy, the floor, the current model re-scored on the same Test images, and whether "
        "it became current or stayed a candidate (with the reason)."
    ),
    columns=(
        Column("run_id", "string", "Dagster run that evaluated the model.", False, 64),
        Column("model_version", "string", "Content address of the evaluated model.", False, 64),
        Column("source", "string", "trained or user (a user-provided ONNX model)."),
        Column("evaluated_at", "timestamp", "When the gate decided (UTC)."),
        Column("test_images", "int64", "Test images the model classified."),
        Column("accuracy", "float64", "Accuracy on the Test side (null: nothing to evaluate)."),
        Column("accuracy_floor", "float64", "The configured minimum Test accuracy."),
        Column("baseline_version", "string", "The current model when the gate ran, if any."),
        Column("baseline_accuracy", "float64", "The current model's accuracy, same images."),
        Column("compared_images", "int64", "Test images both models could classify."),
        Column("decision", "string", "promoted, candidate or already_current."),
        Column("reason", "string", "Why, in words (every failed check when a candidate)."),
    ),
    primary_key=("run_id", "model_version"),
)

MODEL_PROMOTIONS = TableSpec(
    name="model_promotions",
    description=(
        "Every change of the current classifier (what nightly classification uses): who, when, "
        "why, from which version to which, and the metrics the decision saw."
    ),
    columns=(
        Column("promoted_at", "timestamp", "When the pointer moved (UTC).", False),
        Column("model_version", "string", "The version that became current.", False, 64),
        Column("previous_version", "string", "The version that was current before, if any."),
        Column("action", "string", "gate (passed its checks), promote or rollback (by hand)."),
        Column("promoted_by", "string", "A person (CLI user, job config) or the gate's run."),
        Column("reason", "string", "Why, as given."),
        Column("accuracy", "float64", "Test accuracy of the new version at its evaluation."),
        Column("baseline_accuracy", "float64", "Previous version's accuracy, same images."),
        Column("test_images", "int64", "Test images behind the accuracy."),
        Column("run_id", "string", "Dagster run that moved the pointer, if any."),
    ),
    primary_key=("promoted_at", "model_version"),
)

SCHEMA_MIGRATIONS = TableSpec(
    name="schema_migrations",
    description="One-time changes to the meaning of stored rows, applied once each.",
    columns=(
        Column("name", "string", "The migration.", False, 200),
        Column("applied_at", "timestamp", "When it was applied (UTC)."),
        Column("detail", "string", "What it changed."),
    ),
    primary_key=("name",),
)

LABEL_REVIEWS = TableSpec(
    name="label_reviews",
    description=(
        "Labels a person confirmed or corrected, one row per image content (the latest review "
        "wins). The split takes them like catalogued labels: a reviewed image joins the "
        "training data through its duplicate group, on the group's side."
    ),
    columns=(
        IMAGE_ID,
        Column("label", "string", "The label the person gave.", False, 200),
        Column("predicted_label", "string", "What the model had predicted, if known."),
        Column("decision", "string", "confirmed (= prediction), corrected, or labelled."),
        Column("blob_path", "string", "container/name the person reviewed, if given."),
        Column("reviewer", "string", "Who reviewed (from the file, the job or the CLI)."),
        Column("note", "string", "Free text from the reviewer."),
        Column("source", "string", "The review file (name and etag) or the run / CLI call."),
        Column("reviewed_at", "timestamp", "When the review was recorded (UTC)."),
    ),
    primary_key=("image_id",),
)

REVIEW_FILES = TableSpec(
    name="review_files",
    description=(
        "Every review file seen in the reviews container: applied (all rows recorded) or "
        "rejected (nothing recorded) with the reason. A file is read once per version (etag)."
    ),
    columns=(
        Column("name", "string", "Blob name in the reviews container.", False),
        key_column("name_key", "name"),
        Column("etag", "string", "The version read.", False, 128),
        Column("status", "string", "applied or rejected."),
        Column("rows", "int64", "Review rows in the file."),
        Column("reason", "string", "Why it was rejected: every problem found, by row."),
        Column("processed_at", "timestamp", "When it was read (UTC)."),
    ),
    primary_key=("name_key", "etag"),
)

DEDUP_REFRESHES = TableSpec(
    name="dedup_refreshes",
    description=(
        "Every complete refresh of the dedup tables (all dbt models built and tested): full or "
        "incremental, and the catalogue and hash marks it covered. The next refresh is "
        "incremental from these marks when only additions happened since (assets/dedup/"
        "refresh.py)."
    ),
    columns=(
        Column("refresh_id", "string", "The Dagster run that refreshed.", False, 64),
        Column("refreshed_at", "timestamp", "When the refresh finished (UTC)."),
        Column("mode", "string", "full or incremental."),
        Column("reason", "string", "Why that mode."),
        Column("catalog_mark", "timestamp", "Newest raw_images.ingested_at it covered."),
        Column("hash_mark", "timestamp", "Newest image_hashes.hashed_at it covered."),
        Column("catalog_rows", "int64", "raw_images rows at or before catalog_mark."),
        Column("hash_rows", "int64", "image_hashes rows at or before hash_mark."),
        Column("fingerprint", "string", "Digest of the dbt models, macros and variables."),
    ),
    primary_key=("refresh_id",),
)
