"""The image_classifier asset: train (or accept) an ONNX model, evaluate it, store a version."""

import json

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from assets.inference.classify import Classifier
from assets.metadata import md_image, md_table
from assets.model.evaluate import evaluate
from assets.model.registry import StoredModel, save_version
from assets.model.spec import ModelSpec
from assets.model.train import TrainConfig, train_classifier
from assets.tables import PUBLISHED_IMAGES
from resources.blob_store import BlobStore
from resources.environment import get_settings
from resources.warehouse import Warehouse

CHECK_TEST_ACCURACY = "test_accuracy_above_floor"


class ClassifierConfig(dg.Config):
    user_model_blob: str = Field(
        default="",
        description=(
            "Use your own ONNX model instead of training: '<container>/<path>.onnx' in the blob "
            "store. Declare its preprocessing in user_model_spec."
        ),
    )
    user_model_spec: str = Field(
        default="",
        description=(
            "JSON for a user model: input_size [h, w], class_names, layout (NCHW|NHWC|flat), "
            "color_mode (RGB|L), scale, mean, std, resize, resample, output_kind."
        ),
    )
    pca_components: int = Field(default=24, ge=2, description="Components kept before the model.")
    c: float = Field(default=0.3, gt=0, description="Inverse regularisation strength.")
    seed: int = Field(default=0, description="Training seed.")
    min_test_accuracy: float = Field(
        default=0.5, ge=0, le=1, description="Accuracy floor of the (warning) asset check."
    )


def _published(warehouse: Warehouse, split: str) -> pd.DataFrame:
    table = warehouse.read_table(PUBLISHED_IMAGES, ["split", "image_id", "blob_name", "label"])
    return table[(table.split == split) & table.blob_name.notna()].sort_values("image_id")


def _user_model(config: ClassifierConfig, store: BlobStore) -> StoredModel:
    container, _, path = config.user_model_blob.partition("/")
    onnx_bytes = store.read_bytes(container, path)
    declared = json.loads(config.user_model_spec or "{}")
    if "input_size" not in declared or "class_names" not in declared:
        raise dg.Failure("user_model_spec must declare at least input_size and class_names")
    declared["input_size"] = tuple(declared["input_size"])
    declared["class_names"] = tuple(declared["class_names"])
    for key in ("mean", "std"):
        if key in declared:
            declared[key] = tuple(declared[key])
    return StoredModel(onnx_bytes, ModelSpec.for_user_model(onnx_bytes, **declared))


@dg.asset(
    group_name="model",
    kinds={"onnx", "scikitlearn", "python"},
    deps=["published_images"],
    description=(
        "The image classifier: trained on the published Train side (or a user-provided ONNX "
        "model), exported to one self-contained ONNX file, evaluated on the Test side (accuracy, "
        "per-class precision, recall and average precision, confusion matrix) and stored in the "
        "models container under its content-addressed version, which becomes the current model "
        "for nightly classification."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            CHECK_TEST_ACCURACY,
            asset="image_classifier",
            description="Accuracy on the Test side is at least the configured floor.",
        )
    ],
)
def image_classifier(
    context: dg.AssetExecutionContext,
    config: ClassifierConfig,
    warehouse: Warehouse,
    blob_store: BlobStore,
) -> dg.MaterializeResult:
    settings = get_settings()
    images = settings.publish_container

    def items(split: str):
        for row in _published(warehouse, split).itertuples():
            yield row.image_id, blob_store.read_bytes(images, row.blob_name), str(row.label)

    if config.user_model_blob:
        model = _user_model(config, blob_store)
        skipped = 0
        context.log.info(f"using user model {config.user_model_blob} ({model.version})")
    else:
        train = list(items("train"))
        labels = {label for _, _, label in train}
        if len(labels) < 2:
            raise dg.Failure(
                f"training needs at least two labels on the Train side, found {sorted(labels)}: "
                "materialise published_images[train] first"
            )
        trained = train_classifier(
            train, TrainConfig(pca_components=config.pca_components, c=config.c, seed=config.seed)
        )
        model = StoredModel(trained.onnx_bytes, trained.spec)
        skipped = len(trained.skipped)
        context.log.info(f"trained {model.version} on {len(train)} images, {len(labels)} labels")

    test = list(items("test"))
    classifier = Classifier.load(model.onnx_bytes, model.spec)
    truth, probabilities = [], []
    for (_, _, label), (_, result) in zip(
        test, classifier.classify_bytes(((k, d) for k, d, _ in test)), strict=True
    ):
        if isinstance(result, Exception):
            continue
        truth.append(label)
        probabilities.append(result.probabilities)
    class_names = model.spec.class_names
    evaluation = (
        evaluate(truth, np.vstack(probabilities), class_names, title=f"Test side, {model.version}")
        if truth
        else None
    )
    extras = {}
    if evaluation is not None:
        extras = {
            "evaluation.json": (
                json.dumps(evaluation.summary(), indent=2).encode(),
                "application/json",
            ),
            "confusion_matrix.png": (evaluation.confusion_png, "image/png"),
        }
    paths = save_version(blob_store, settings.models_container, model, extras)
    metadata = {
        "model_version": model.version,
        "source": model.spec.source,
        "classes": len(class_names),
        "train_images": int(model.spec.training.get("train_images", 0)),
        "skipped_undecodable": skipped,
        "test_images": len(truth),
        "model_uri": dg.MetadataValue.url(
            blob_store.url(settings.models_container, paths["model.onnx"])
        ),
    }
    if evaluation is not None:
        metadata.update(
            {
                "accuracy": round(evaluation.accuracy, 4),
                "mean_average_precision": round(evaluation.mean_average_precision, 4),
                "per_class": dg.MetadataValue.md(
                    md_table(evaluation.per_class.round(4).reset_index(names="class"), 100)
                ),
                "confusion_matrix": dg.MetadataValue.md(
                    md_table(evaluation.confusion.reset_index(names="true \\ predicted"), 100)
                ),
                "confusion_matrix_plot": dg.MetadataValue.md(
                    md_image(evaluation.confusion_png, "confusion matrix")
                ),
            }
        )
    accuracy = evaluation.accuracy if evaluation is not None else float("nan")
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[
            dg.AssetCheckResult(
                check_name=CHECK_TEST_ACCURACY,
                passed=bool(evaluation is not None and accuracy >= config.min_test_accuracy),
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"accuracy": accuracy, "floor": config.min_test_accuracy},
            )
        ],
    )
