"""classify_images_job: classify chosen blobs from the UI and show them with every probability."""

from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from assets.metadata import md_image
from resources.blob_store import BlobStore
from resources.settings import PlatformSettings

if TYPE_CHECKING:  # loaded by the steps that use them, not with the code location
    pass

SHOWN = 100  # rows with a thumbnail in the metadata; the table lists every image


class ClassifyImagesConfig(dg.Config):
    """Run configuration of ``classify_images_job``: what to classify, with which model."""

    paths: list[str] = Field(
        description=(
            "Blobs to classify: '<container>/<name>' for one blob, '<container>/<prefix>/' for "
            "every blob under a folder (blob:// URIs and the store's URLs work too)."
        ),
    )
    model_version: str = Field(default="", description="Model version; empty = the current one.")
    batch_size: int = Field(default=64, ge=1, description="Images per inference batch.")


@dg.op(
    description=(
        "Classify the configured blobs with the current (or a chosen) model, exactly as the "
        "nightly run would, and show thumbnails with every class's probability."
    ),
)
def classify_images(
    context: dg.OpExecutionContext,
    config: ClassifyImagesConfig,
    blob_store: BlobStore,
    settings: PlatformSettings,
) -> dg.Output:
    # onnxruntime loads with the classifier, in the step, never with the code location.
    import pandas as pd

    from assets.classifier.classify import Classifier
    from assets.decode import UndecodableImageError
    from assets.inference.on_demand import (
        DEFAULT_MAX_BYTES,
        classify_inputs,
        read_input,
        resolve_inputs,
        results_table,
    )
    from assets.inference.review_sheet import md_escape as _md_escape
    from assets.inference.review_sheet import thumbnail_png

    try:
        classifier = Classifier.from_store(
            blob_store, settings.models_container, config.model_version
        )
    except LookupError as exc:
        raise dg.Failure(str(exc)) from exc
    inputs = resolve_inputs(config.paths, blob_store, local_files=False)
    if not inputs:
        raise dg.Failure("no images named: set paths to blob paths or folders")
    by_name = {item.name: item for item in inputs}
    results = list(classify_inputs(classifier, inputs, config.batch_size))
    table = results_table(results, classifier.spec.class_names, classifier.version)
    failed = table[table.error.notna()]
    for row in failed.itertuples():
        context.log.warning(f"{row.image}: {row.error}: {row.detail}")

    lines = ["| image | | predicted | probabilities |", "| --- | --- | --- | --- |"]
    for name, result in results[:SHOWN]:
        item = by_name[name]
        if isinstance(result, UndecodableImageError):
            lines.append(
                f"| {_md_escape(name)} | | _{result.reason}_ | {_md_escape(result.detail)} |"
            )
            continue
        data = read_input(item, DEFAULT_MAX_BYTES)
        png = thumbnail_png(data) if isinstance(data, bytes) else None
        picture = md_image(png, name.rsplit("/", 1)[-1]) if png else ""
        ranked = sorted(result.by_class().items(), key=lambda kv: -kv[1])
        probabilities = " · ".join(f"{_md_escape(c)}: {p:.4f}" for c, p in ranked)
        lines.append(
            f"| {_md_escape(name)} | {picture} | **{_md_escape(result.label)}** "
            f"{result.probability:.4f} | {probabilities} |"
        )
    if len(results) > SHOWN:
        lines.append(f"\n_{len(results) - SHOWN} more images: see the `probabilities` table_")
    classified = int(table.error.isna().sum())
    context.log.info(f"classified {classified} of {len(results)} images with {classifier.version}")
    return dg.Output(
        None,
        metadata={
            "model_version": classifier.version,
            "images": len(results),
            "classified": classified,
            "failed": len(failed),
            "classifications": dg.MetadataValue.md("\n".join(lines)),
            "probabilities": dg.MetadataValue.table(
                records=[
                    dg.TableRecord({k: "" if pd.isna(v) else v for k, v in row.items()})
                    for row in table.to_dict("records")
                ],
            ),
        },
    )


@dg.job(
    description=(
        "Classify chosen images on demand (config: paths — blob paths or folders — and "
        "optionally model_version) and show thumbnails with every class's probability."
    ),
)
def classify_images_job() -> None:
    classify_images()
