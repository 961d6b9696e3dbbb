"""The nightly outputs besides the warehouse tables: a Parquet copy of each evening's rows."""

import io
from datetime import date

import pandas as pd

from assets.tables import IMAGE_PREDICTIONS, IMAGE_PROBABILITIES


def write_parquet_copies(
    store, container: str, day: date, predictions: pd.DataFrame, probabilities: pd.DataFrame
) -> dict[str, str]:
    """Write ``date=YYYY-MM-DD/{predictions,probabilities}.parquet``; {file name: blob name}."""
    store.ensure_container(container)
    paths = {}
    for filename, frame in (
        ("predictions.parquet", IMAGE_PREDICTIONS.conform(predictions)),
        ("probabilities.parquet", IMAGE_PROBABILITIES.conform(probabilities)),
    ):
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        path = f"date={day.isoformat()}/{filename}"
        store.write_bytes(container, path, buffer.getvalue(), "application/vnd.apache.parquet")
        paths[filename] = path
    return paths
