"""The image_classifier asset: train (or accept) an ONNX model, evaluate it, store a version."""

import json
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from assets.classifier.registry import StoredModel, current_version, load_version, save_version
from assets.classifier.spec import ModelSpec
from assets.metadata import md_image, md_table
from assets.model.promotion import (
    ALREADY_CURRENT,
    CANDIDATE,
    GATE,
    PROMOTED,
    GateResult,
    accuracy_of,
    candidates,
    change_current,
    promotion_history,
    record_evaluation,
)
from assets.tables import PUBLISHED_IMAGES
from resources.blob_store import BlobStore
from resources.settings import PlatformSettings
from resources.warehouse.base import Warehouse

if TYPE_CHECKING:  # scikit-learn, onnx and onnxruntime load with the step that trains
    import pandas as pd

CHECK_TEST_ACCURACY = "test_accuracy_above_floor"
CHECK_NO_WORSE = "no_worse_than_current_model"


class ClassifierConfig(dg.Config):
    """Run configuration of ``image_classifier``: training, a user's model, the promotion gate."""

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
        default=0.5,
        ge=0,
        le=1,
        description="Blocking: below this Test accuracy the model stays a candidate.",
    )
    accuracy_tolerance: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description=(
            "Blocking: how much lower than the current model's accuracy (re-scored on the same "
            "Test images) this model may score and still be promoted."
        ),
    )


def _published(warehouse: Warehouse, split: str) -> "pd.DataFrame":
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
    # It reads published_images: a DuckDB file takes one process at a time.
    pool="warehouse",
    deps=["published_images"],
    description=(
        "The image classifier: trained on the published Train side (or a user-provided ONNX "
        "model), exported to one self-contained ONNX file, evaluated on the Test side (accuracy, "
        "per-class precision, recall and average precision, confusion matrix) and stored in the "
        "models container under its content-addressed version. It becomes the current model "
        "for nightly classification only when its blocking checks pass (Test accuracy at least "
        "the floor, and no worse than the current model re-scored on the same Test images); "
        "otherwise it is kept as a candidate with the reason (model_evaluations) and the "
        "current model stays. Promote or roll back by hand with promote_model_job or "
        "`python -m assets.model`; every change is in model_promotions."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            CHECK_TEST_ACCURACY,
            asset="image_classifier",
            blocking=True,
            description="Accuracy on the Test side is at least the configured floor.",
        ),
        dg.AssetCheckSpec(
            CHECK_NO_WORSE,
            asset="image_classifier",
            blocking=True,
            description=(
                "Accuracy is no worse than the current model's, both scored on today's Test side."
            ),
        ),
    ],
)
def image_classifier(
    context: dg.AssetExecutionContext,
    config: ClassifierConfig,
    warehouse: Warehouse,
    blob_store: BlobStore,
    settings: PlatformSettings,
) -> dg.MaterializeResult:
    import numpy as np

    from assets.model.evaluate import evaluate
    from assets.model.train import TrainConfig, train_classifier

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
    truth, probabilities, predicted = _score(model, test)
    class_names = model.spec.class_names
    evaluation = (
        evaluate(
            list(truth.values()),
            np.vstack(list(probabilities.values())),
            class_names,
            title=f"Test side, {model.version}",
        )
        if truth
        else None
    )
    gate = _gate(context, config, blob_store, settings.models_container, model, test, predicted)
    extras = {}
    if evaluation is not None:
        extras = {
            "evaluation.json": (
                json.dumps(evaluation.summary(), indent=2).encode(),
                "application/json",
            ),
            "confusion_matrix.png": (evaluation.confusion_png, "image/png"),
        }
    paths = save_version(blob_store, settings.models_container, model, extras, make_current=False)
    run_id = context.run.run_id
    if gate.baseline_version == model.version:
        decision, reason = ALREADY_CURRENT, f"{model.version} is already the current model"
    elif gate.promote:
        decision, reason = PROMOTED, gate.reason
    else:
        decision, reason = CANDIDATE, gate.reason
    # The evaluation is recorded before the pointer moves: a promotion row always has one.
    record_evaluation(
        warehouse, run_id, model.version, model.spec.source, gate, len(truth), decision, reason
    )
    if decision == PROMOTED:
        change_current(
            warehouse,
            blob_store,
            settings.models_container,
            model.version,
            action=GATE,
            promoted_by="promotion gate",  # the run is in run_id
            reason=reason,
            run_id=run_id,
            accuracy=gate.accuracy,
            baseline_accuracy=gate.baseline_accuracy,
            test_images=len(truth),
        )
        context.log.info(f"{model.version} is now the current model: {reason}")
    elif decision == CANDIDATE:
        context.log.warning(
            f"{model.version} {reason}; current model stays {gate.baseline_version}"
        )
    metadata: dict[str, Any] = {
        "model_version": model.version,
        "source": model.spec.source,
        "classes": len(class_names),
        "train_images": int(model.spec.training.get("train_images", 0)),
        "skipped_undecodable": skipped,
        "test_images": len(truth),
        "decision": decision,
        "decision_reason": reason,
        "current_model_version": current_version(blob_store, settings.models_container) or "",
        "compared_with": gate.baseline_version or "",
        "current_model_accuracy_same_test": (
            round(gate.baseline_accuracy, 4) if gate.baseline_accuracy is not None else None
        ),
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
    metadata["recent_decisions"] = dg.MetadataValue.md(md_table(candidates(warehouse, 10), 10))
    metadata["promotion_history"] = dg.MetadataValue.md(
        md_table(promotion_history(warehouse, 10), 10)
    )
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[
            dg.AssetCheckResult(
                check_name=CHECK_TEST_ACCURACY,
                passed=gate.floor_passed,
                severity=dg.AssetCheckSeverity.ERROR,
                description=gate.floor_reason,
                metadata={
                    "accuracy": gate.accuracy if gate.accuracy is not None else float("nan"),
                    "floor": config.min_test_accuracy,
                    "model_version": model.version,
                },
            ),
            dg.AssetCheckResult(
                check_name=CHECK_NO_WORSE,
                passed=gate.comparison_passed,
                severity=dg.AssetCheckSeverity.ERROR,
                description=gate.comparison_reason,
                metadata={
                    "model_version": model.version,
                    "current_model_version": gate.baseline_version or "",
                    "accuracy_same_test": _or_nan(gate.candidate_on_common),
                    "current_model_accuracy_same_test": _or_nan(gate.baseline_accuracy),
                    "compared_images": gate.compared_images,
                },
            ),
        ],
    )


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _score(model: StoredModel, test: list[tuple[str, bytes, str]]):
    """Classify the Test images: ({key: truth}, {key: probabilities}, {key: predicted label}),
    without the images the model could not decode."""
    from assets.classifier.classify import Classifier

    classifier = Classifier.load(model.onnx_bytes, model.spec)
    truth, probabilities, predicted = {}, {}, {}
    for (key, _, label), (_, result) in zip(
        test, classifier.classify_bytes(((k, d) for k, d, _ in test)), strict=True
    ):
        if isinstance(result, Exception):
            continue
        truth[key] = label
        probabilities[key] = result.probabilities
        predicted[key] = result.label
    return truth, probabilities, predicted


def _gate(
    context: dg.AssetExecutionContext,
    config: ClassifierConfig,
    store: BlobStore,
    container: str,
    model: StoredModel,
    test: list[tuple[str, bytes, str]],
    predicted: dict[str, str],
) -> GateResult:
    """Both blocking checks. The current model is re-scored on exactly today's Test images."""
    labels = {key: label for key, _, label in test}
    keys = list(predicted)
    accuracy = accuracy_of([labels[k] for k in keys], [predicted[k] for k in keys])
    baseline_version = current_version(store, container)
    if baseline_version is None:
        return GateResult(accuracy, config.min_test_accuracy)
    if baseline_version == model.version:
        return GateResult(
            accuracy, config.min_test_accuracy, baseline_version, accuracy, accuracy, len(keys)
        )
    try:
        baseline = load_version(store, container, baseline_version)
    except (LookupError, ValueError) as exc:
        raise dg.Failure(
            f"the current model {baseline_version} cannot be loaded to compare with ({exc}); "
            "promote a stored version by hand first: python -m assets.model promote VERSION"
        ) from exc
    _, _, baseline_predicted = _score(baseline, test)
    common = [k for k in keys if k in baseline_predicted]
    truth = [labels[k] for k in common]
    context.log.info(
        f"re-scored the current model {baseline_version} on {len(common)} of {len(test)} "
        "Test images"
    )
    return GateResult(
        accuracy=accuracy,
        floor=config.min_test_accuracy,
        baseline_version=baseline_version,
        baseline_accuracy=accuracy_of(truth, [baseline_predicted[k] for k in common]),
        candidate_on_common=accuracy_of(truth, [predicted[k] for k in common]),
        compared_images=len(common),
        tolerance=config.accuracy_tolerance,
    )
