"""dedup_quality: how well the shipped dedup rule finds duplicates, measured on labelled images."""

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import dagster as dg
from pydantic import Field

from assets.dedup.project import dbt_vars
from assets.metadata import md_image, md_table
from assets.tables import IMAGE_HASHES, RAW_IMAGES
from resources.blob_store import BlobStore
from resources.environment import get_home
from resources.warehouse.base import Warehouse

if TYPE_CHECKING:  # loaded by the steps that use them, not with the code location
    import pandas as pd

    from assets.splits import quality

CHECK_PRECISION = "dedup_precision_at_least_floor"
CHECK_RECALL = "dedup_recall_at_least_floor"


class DedupQualityConfig(dg.Config):
    """Run configuration of ``dedup_quality``."""

    labelled_pairs: str = Field(
        default="",
        description=(
            "A CSV of labelled pairs of catalogued images: columns a, b, duplicate (1/0, "
            "true/false) and optionally family. a and b name an image by its source URI, its "
            "'<label>/<file name>' or its image_id. Empty: the project's labelled benchmark "
            "(built from the demo photographs under IMAGE_PLATFORM_HOME)."
        ),
    )
    mode: Literal["exact", "fast"] = Field(
        default="exact", description="Hash mode for the benchmark images (as image_hashes)."
    )
    min_precision: float = Field(default=0.995, ge=0.0, le=1.0)
    min_recall: float = Field(default=0.99, ge=0.0, le=1.0)
    max_missed_in_picture: int = Field(default=10, ge=1, le=50)


def _benchmark(config: DedupQualityConfig) -> "tuple[pd.DataFrame, Path]":
    """The benchmark's labelled rows with hashes, cached per benchmark and hash version."""
    import pandas as pd

    from assets.demo.benchmark import MANIFEST, ensure_benchmark
    from assets.hashing.engine import algorithm_version
    from assets.splits import quality

    root = ensure_benchmark(get_home() / "dedup-benchmark")
    cache = root / f"hashes-{algorithm_version(config.mode)}.parquet"
    # ensure_benchmark rebuilds the folder (dropping this cache) when its version changes.
    if cache.is_file():
        return pd.read_parquet(cache), root
    labelled = quality.hash_labelled(root, pd.read_csv(root / MANIFEST), config.mode)
    labelled.to_parquet(cache)
    return labelled, root


def _catalogued_pairs(warehouse: Warehouse, path: str) -> "tuple[pd.DataFrame, pd.DataFrame]":
    """(images with hashes and a true group, labelled pairs by image_id) from a pairs CSV."""
    import pandas as pd

    pairs = pd.read_csv(path)
    missing = {"a", "b", "duplicate"} - set(pairs.columns)
    if missing:
        raise ValueError(f"{path}: the labelled pairs file lacks columns {sorted(missing)}")
    for spec in (RAW_IMAGES, IMAGE_HASHES):
        warehouse.ensure_table(spec)
    catalog = warehouse.query_df(f"SELECT image_id, source_uri, label, name FROM {RAW_IMAGES.name}")
    names: dict[str, str] = {}
    for row in catalog.itertuples(index=False):
        names[row.image_id] = row.image_id
        names[row.source_uri] = row.image_id
        names[f"{row.label}/{row.name}"] = row.image_id
    pairs["image_a"] = pairs.a.astype(str).map(names)
    pairs["image_b"] = pairs.b.astype(str).map(names)
    unknown = pairs[pairs.image_a.isna() | pairs.image_b.isna()]
    if len(unknown):
        raise ValueError(
            f"{path}: {len(unknown)} pairs name images that are not catalogued, e.g. "
            f"{unknown.a.iloc[0]!r} / {unknown.b.iloc[0]!r}"
        )
    pairs["duplicate"] = pairs.duplicate.astype(str).str.lower().isin(["1", "true", "yes"])
    if "family" not in pairs.columns:
        pairs["family"] = "labelled"
    ids = sorted(set(pairs.image_a) | set(pairs.image_b))
    hashes = warehouse.read_table(IMAGE_HASHES)
    hashes = hashes[hashes.image_id.isin(ids)]
    first = catalog.drop_duplicates("image_id").set_index("image_id")
    images = hashes.assign(
        key=hashes.image_id,
        label=hashes.image_id.map(first.label),
        source_uri=hashes.image_id.map(first.source_uri),
    )
    return images.reset_index(drop=True), pairs


def _missed_sheet(q: "quality.Quality", load, limit: int) -> bytes:
    import pandas as pd

    from assets.dedup.review import SheetRow, Tile, contact_sheet

    rows = []
    for miss in q.missed.head(limit).itertuples(index=False):
        trim = "-" if pd.isna(miss.trim_distance) else int(miss.trim_distance)
        plain = "-" if pd.isna(miss.distance) else int(miss.distance)
        rows.append(
            SheetRow(
                f"{miss.family} ({miss.strength}): size 8 {plain} bits, trimmed {trim} bits",
                (
                    Tile(miss.anchor, (str(miss.anchor)[-22:], "original"), True),
                    Tile(miss.copy, (str(miss.copy)[-22:], "missed copy"), False),
                ),
            )
        )
    return contact_sheet(f"Duplicates the rule missed: {q.rule.name}", rows, load)


@dg.asset(
    group_name="quality",
    kinds={"python"},
    pool="warehouse",  # reads the catalog and hashes: one DuckDB process at a time
    deps=["image_hashes"],
    description=(
        "Dedup quality of the shipped rule (dbt variables of duplicate_groups) on labelled "
        "images: pair precision and recall, recall per transform family, and leakage (test "
        "images with a true duplicate on the train side after the platform's split). By default "
        "the project's labelled benchmark (every transform family at several strengths, plus "
        "negatives that must stay apart); a labelled pairs file of your own catalogued images "
        "when configured. Shows the missed pairs as a picture."
    ),
    check_specs=[
        dg.AssetCheckSpec(CHECK_PRECISION, asset="dedup_quality"),
        dg.AssetCheckSpec(CHECK_RECALL, asset="dedup_quality"),
    ],
)
def dedup_quality(
    context: dg.AssetExecutionContext,
    config: DedupQualityConfig,
    warehouse: Warehouse,
    blob_store: BlobStore,
) -> dg.MaterializeResult:
    import pandas as pd

    from assets.demo.benchmark import BENCHMARK_VERSION
    from assets.splits import quality

    rule = quality.rule_from_vars(dbt_vars())
    if config.labelled_pairs:
        images, pairs = _catalogued_pairs(warehouse, config.labelled_pairs)
        q = quality.evaluate_pairs(images, pairs, rule)
        uris = dict(zip(images.key, images.source_uri, strict=True))

        def load(key: str) -> bytes | None:
            return blob_store.read_uri(uris[key]) if key in uris else None

        source = config.labelled_pairs
        scores = [q]
    else:
        labelled, root = _benchmark(config)
        scores = [
            quality.evaluate(labelled, r) for r in (quality.LAB_RULE, quality.PREVIOUS_RULE, rule)
        ]
        q = scores[-1]

        def load(key: str) -> bytes | None:
            path = root / key
            return path.read_bytes() if path.is_file() else None

        source = f"benchmark {BENCHMARK_VERSION} ({len(labelled)} images)"
    context.log.info(
        f"{rule.name}: precision {q.precision:.4f}, recall {q.recall:.4f}, "
        f"leakage {q.leakage:.4f} on {source}"
    )
    sheet = _missed_sheet(q, load, config.max_missed_in_picture)
    summary = pd.DataFrame([quality.summary_row(s) for s in scores])
    return dg.MaterializeResult(
        metadata={
            "labelled_set": source,
            "rule": str(rule),
            "precision": round(float(q.precision), 4),
            "recall": round(float(q.recall), 4),
            "leakage": round(float(q.leakage), 4),
            "missed_pairs": len(q.missed),
            "false_pairs": int(q.predicted_pairs - q.correct_pairs),
            "rules": dg.MetadataValue.md(md_table(summary)),
            "recall_by_family": dg.MetadataValue.md(md_table(quality.family_table(scores))),
            "missed": dg.MetadataValue.md(md_table(q.missed)),
            "missed_pairs_sheet": dg.MetadataValue.md(md_image(sheet, "missed pairs")),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=CHECK_PRECISION,
                passed=bool(q.precision >= config.min_precision),
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"precision": float(q.precision), "floor": config.min_precision},
            ),
            dg.AssetCheckResult(
                check_name=CHECK_RECALL,
                passed=bool(q.recall >= config.min_recall),
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"recall": float(q.recall), "floor": config.min_recall},
            ),
        ],
    )
