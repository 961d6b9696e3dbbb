"""Evaluation metrics against scikit-learn's on small cases worked out in advance."""

import io

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    precision_recall_fscore_support,
)

from assets.model.evaluate import NO_PREDICTION, confusion_matrix_png, evaluate

CLASSES = ["cat", "dog", "fox"]
TRUTH = ["cat", "cat", "cat", "dog", "dog", "fox", "fox", "fox"]
PROBABILITIES = np.array(
    [
        [0.8, 0.1, 0.1],  # cat -> cat
        [0.4, 0.5, 0.1],  # cat -> dog
        [0.6, 0.2, 0.2],  # cat -> cat
        [0.2, 0.7, 0.1],  # dog -> dog
        [0.1, 0.3, 0.6],  # dog -> fox
        [0.2, 0.2, 0.6],  # fox -> fox
        [0.3, 0.3, 0.4],  # fox -> fox
        [0.45, 0.1, 0.45],  # fox -> cat (a tie goes to the first class)
    ]
)


def test_metrics_equal_scikit_learns_on_a_known_case():
    evaluation = evaluate(TRUTH, PROBABILITIES, CLASSES)
    predicted = np.array(CLASSES)[PROBABILITIES.argmax(axis=1)]
    assert evaluation.accuracy == pytest.approx(accuracy_score(TRUTH, predicted)) == 5 / 8
    precision, recall, _, support = precision_recall_fscore_support(
        TRUTH, predicted, labels=CLASSES, zero_division=0
    )
    assert evaluation.per_class.precision.tolist() == pytest.approx(precision.tolist())
    assert evaluation.per_class.recall.tolist() == pytest.approx(recall.tolist())
    assert evaluation.per_class.support.tolist() == support.tolist()
    ap = [
        average_precision_score(np.array(TRUTH) == name, PROBABILITIES[:, i])
        for i, name in enumerate(CLASSES)
    ]
    assert evaluation.per_class.average_precision.tolist() == pytest.approx(ap)
    assert evaluation.mean_average_precision == pytest.approx(np.mean(ap))
    assert evaluation.precision == pytest.approx(precision.mean())
    assert evaluation.recall == pytest.approx(recall.mean())
    expected = confusion_matrix(TRUTH, predicted, labels=CLASSES)
    assert evaluation.confusion.to_numpy().tolist() == expected.tolist()
    assert list(evaluation.confusion.index) == CLASSES == list(evaluation.confusion.columns)


def test_with_a_threshold_unsure_images_are_not_predictions():
    evaluation = evaluate(TRUTH, PROBABILITIES, CLASSES, threshold=0.55)
    # Kept: cat 0.8 and 0.6 (both right), dog 0.7 (right), fox 0.6 twice (one right, one a dog).
    assert evaluation.per_class.loc["cat", "precision"] == pytest.approx(1.0)
    assert evaluation.per_class.loc["cat", "recall"] == pytest.approx(2 / 3)
    assert evaluation.per_class.loc["fox", "precision"] == pytest.approx(1 / 2)
    assert evaluation.per_class.loc["fox", "recall"] == pytest.approx(1 / 3)
    assert evaluation.confusion[NO_PREDICTION].tolist() == [1, 0, 2]
    assert evaluation.accuracy == pytest.approx(5 / 8)  # accuracy ignores the threshold


def test_a_class_without_test_images_has_no_average_precision():
    evaluation = evaluate(["cat", "dog"], PROBABILITIES[:2], CLASSES)
    assert np.isnan(evaluation.per_class.loc["fox", "average_precision"])
    assert not np.isnan(evaluation.mean_average_precision)
    assert evaluation.summary()["per_class"]["fox"]["average_precision"] is None


def test_labels_the_model_does_not_know_are_refused():
    with pytest.raises(ValueError, match="wolf"):
        evaluate(["wolf"], PROBABILITIES[:1], CLASSES)


def test_the_confusion_matrix_png_is_a_valid_png():
    evaluation = evaluate(TRUTH, PROBABILITIES, CLASSES)
    png = evaluation.confusion_png
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    Image.open(io.BytesIO(png)).verify()
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        assert image.width >= 300 and image.height >= 300


def test_a_large_confusion_matrix_still_renders():
    names = [f"class_{i}" for i in range(60)]
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(60), size=300)
    truth = [names[i] for i in rng.integers(0, 60, 300)]
    png = confusion_matrix_png(evaluate(truth, proba, names).confusion)
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
