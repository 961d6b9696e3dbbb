"""Health of one evening's predictions, as numbers the nightly asset checks report (pure).

* low-confidence share: predictions whose probability is below a threshold — a model that is
  unsure about many images, or images unlike anything it was trained on;
* class mix against the Train side: total variation distance between the predicted classes and
  the Train side's labels (0 = same proportions, 1 = no class in common) — drift or a broken
  upload;
* quarantine rate: undecodable arrivals over all arrivals;
* model versions within the partition: one evening, one model.
"""

from dataclasses import dataclass

import pandas as pd

MIN_IMAGES_FOR_MIX = 20  # fewer predictions say nothing about a class mix


@dataclass(frozen=True)
class NightHealth:
    """The numbers behind a night's asset checks."""

    predictions: int
    low_confidence: int
    class_mix_distance: float | None
    quarantined: int
    arrived: int
    model_versions: tuple[str, ...]
    mix: pd.DataFrame

    @property
    def low_confidence_share(self) -> float:
        return self.low_confidence / self.predictions if self.predictions else 0.0

    @property
    def quarantine_rate(self) -> float:
        return self.quarantined / self.arrived if self.arrived else 0.0


def class_mix(predicted: pd.Series, train_labels: pd.Series) -> pd.DataFrame:
    """Share of each class among the predictions and among the Train side's labels."""
    night = predicted.astype(str).value_counts(normalize=True).rename("predicted_share")
    train = train_labels.astype(str).value_counts(normalize=True).rename("train_share")
    mix = pd.concat([night, train], axis=1).fillna(0.0)
    return mix.rename_axis("class").reset_index().sort_values("class", ignore_index=True)


def night_health(
    predictions: pd.DataFrame,
    train_labels: pd.Series,
    quarantined: int,
    arrived: int,
    low_confidence_below: float,
) -> NightHealth:
    """``predictions``: the partition's rows as written (predicted_label, probability,
    model_version)."""
    mix = class_mix(predictions.predicted_label, train_labels)
    distance = None
    if len(predictions) >= MIN_IMAGES_FOR_MIX and len(train_labels):
        distance = float((mix.predicted_share - mix.train_share).abs().sum() / 2)
    return NightHealth(
        predictions=len(predictions),
        low_confidence=int((predictions.probability < low_confidence_below).sum()),
        class_mix_distance=distance,
        quarantined=quarantined,
        arrived=arrived,
        model_versions=tuple(sorted(set(predictions.model_version.astype(str)))),
        mix=mix,
    )
