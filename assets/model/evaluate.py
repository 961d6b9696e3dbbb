"""Held-out evaluation of a classifier from its probabilities (pure: no Dagster).

The numbers a model page shows (the way Custom Vision presents an iteration):

* accuracy: the fraction of images whose most probable class is the true one;
* per class, from the predicted label (the most probable class, if its probability reaches
  ``threshold`` when one is given; below it the model makes no prediction for that image):
  precision = correct predictions of the class / predictions of the class, and
  recall = correct predictions of the class / images of the class (0 when there are none);
* per class, average precision: the area under the one-vs-rest precision-recall curve of that
  class's probability (scikit-learn's ``average_precision_score``), independent of any threshold;
  NaN for a class with no test images;
* overall precision and recall as means over classes, and mAP as the mean average precision;
* the confusion matrix (rows: true class, columns: predicted class) as a table and a PNG.
"""

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

NO_PREDICTION = "(below threshold)"


@dataclass
class Evaluation:
    """Metrics of one model on one held-out set; ``per_class`` is indexed by class name."""

    accuracy: float
    precision: float
    recall: float
    mean_average_precision: float
    threshold: float | None
    images: int
    per_class: pd.DataFrame  # columns: precision, recall, average_precision, support
    confusion: pd.DataFrame  # index: true class, columns: predicted class, values: image counts
    confusion_png: bytes

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable headline numbers and per-class metrics."""

        def number(value: float) -> float | None:
            return None if np.isnan(value) else round(float(value), 6)

        return {
            "images": self.images,
            "accuracy": number(self.accuracy),
            "precision": number(self.precision),
            "recall": number(self.recall),
            "mean_average_precision": number(self.mean_average_precision),
            "threshold": self.threshold,
            "per_class": {
                str(name): {
                    "precision": number(row.precision),
                    "recall": number(row.recall),
                    "average_precision": number(row.average_precision),
                    "support": int(row.support),
                }
                for name, row in self.per_class.iterrows()
            },
        }


def evaluate(
    true_labels: Sequence[str],
    probabilities: np.ndarray,
    class_names: Sequence[str],
    threshold: float | None = None,
    title: str = "Confusion matrix",
) -> Evaluation:
    """Evaluate probabilities [N, n_classes] (columns in ``class_names`` order) against labels."""
    from sklearn.metrics import average_precision_score

    names = [str(c) for c in class_names]
    truth = np.asarray([str(t) for t in true_labels], dtype=object)
    proba = np.asarray(probabilities, dtype=np.float64)
    if proba.ndim != 2 or proba.shape != (len(truth), len(names)):
        raise ValueError(f"probabilities must be [{len(truth)}, {len(names)}], got {proba.shape}")
    unknown = sorted(set(truth) - set(names))
    if unknown:
        raise ValueError(f"true labels the model has no class for: {unknown[:10]}")
    if len(truth) == 0:
        raise ValueError("nothing to evaluate: no images")

    best = proba.argmax(axis=1)
    top_label = np.asarray(names, dtype=object)[best]
    predicted = top_label.copy()
    if threshold is not None:
        predicted[proba[np.arange(len(best)), best] < threshold] = NO_PREDICTION

    rows = []
    for index, name in enumerate(names):
        positives = truth == name
        predicted_as = predicted == name
        hits = int(np.sum(positives & predicted_as))
        support = int(positives.sum())
        precision = hits / predicted_as.sum() if predicted_as.any() else 0.0
        recall = hits / support if support else 0.0
        ap = average_precision_score(positives, proba[:, index]) if support else float("nan")
        rows.append((name, precision, recall, float(ap), support))
    per_class = pd.DataFrame(
        rows, columns=["class", "precision", "recall", "average_precision", "support"]
    ).set_index("class")

    columns = names + ([NO_PREDICTION] if threshold is not None else [])
    confusion = (
        pd.crosstab(
            pd.Categorical(truth, categories=names),
            pd.Categorical(predicted, categories=columns),
            dropna=False,
        )
        .reindex(index=names, columns=columns, fill_value=0)
        .astype(np.int64)
    )
    confusion.index.name = "true"
    confusion.columns.name = "predicted"
    return Evaluation(
        accuracy=float(np.mean(top_label == truth)),
        precision=float(per_class.precision.mean()),
        recall=float(per_class.recall.mean()),
        mean_average_precision=float(np.nanmean(per_class.average_precision))
        if per_class.support.any()
        else float("nan"),
        threshold=threshold,
        images=len(truth),
        per_class=per_class,
        confusion=confusion,
        confusion_png=confusion_matrix_png(confusion, title),
    )


def confusion_matrix_png(confusion: pd.DataFrame, title: str = "Confusion matrix") -> bytes:
    """Render a confusion matrix as PNG bytes: counts in the cells, colour by row fraction."""
    # The object-oriented API with an Agg canvas: no pyplot global state, safe in worker threads.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    counts = confusion.to_numpy()
    rows, cols = counts.shape
    totals = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    side = min(max(4.0, 0.45 * max(rows, cols) + 2.0), 24.0)
    figure = Figure(figsize=(side + 1.0, side), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="fraction of the true class")
    axes.set_xticks(range(cols), [str(c) for c in confusion.columns], rotation=90)
    axes.set_yticks(range(rows), [str(r) for r in confusion.index])
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    if max(rows, cols) <= 30:  # beyond that the numbers would overlap
        for (r, c), value in np.ndenumerate(counts):
            colour = "white" if fractions[r, c] > 0.5 else "black"
            axes.text(c, r, str(value), ha="center", va="center", color=colour, fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
