"""The evening's review sheet: its least confident predictions for a person to confirm (pure).

Each row shows the image as the classifier saw it (decode policy applied), its three most
probable classes and the command that records the right label in ``label_reviews``; a CSV with
the same rows can be filled in and dropped into the reviews container instead.
"""

import io
import shlex

import pandas as pd

from assets.decode import UndecodableImageError, decode_rgb_image
from assets.metadata import md_image

THUMBNAIL_SIDE = 96
SHEET_ROWS = 12


def thumbnail_png(data: bytes, side: int = THUMBNAIL_SIDE) -> bytes | None:
    """A small PNG of the image as the classifier saw it, or None when it does not decode."""
    try:
        image = decode_rgb_image(data, draft_size=(side * 2, side * 2))
    except UndecodableImageError:
        return None
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def md_escape(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def least_confident(predictions: pd.DataFrame, n: int = SHEET_ROWS) -> pd.DataFrame:
    """The ``n`` predictions with the lowest probability (ties by blob path)."""
    return predictions.sort_values(["probability", "blob_path"]).head(n)


def review_sheet_md(
    rows: pd.DataFrame,
    probabilities: dict[str, pd.DataFrame],
    images: dict[str, bytes],
) -> str:
    """Markdown: thumbnail, blob path, top-3 classes, the command to confirm.

    ``rows``: predictions (blob_path, image_id, predicted_label, probability);
    ``probabilities``: image_id -> (label, probability) rows; ``images``: blob_path -> bytes.
    """
    if rows.empty:
        return "_nothing to review_"
    lines = [
        "| image | | top 3 | confirm with |",
        "| --- | --- | --- | --- |",
    ]
    for row in rows.itertuples(index=False):
        data = images.get(row.blob_path)
        png = thumbnail_png(data) if data is not None else None
        picture = md_image(png, row.blob_path.rsplit("/", 1)[-1]) if png else ""
        probs = probabilities.get(row.image_id)
        top = (
            " · ".join(
                f"{md_escape(r.label)}: {r.probability:.3f}"
                for r in probs.sort_values("probability", ascending=False).head(3).itertuples()
            )
            if probs is not None
            else ""
        )
        command = (
            f"python -m assets.reviews confirm {shlex.quote(row.blob_path)} "
            f"{shlex.quote(str(row.predicted_label))}"
        )
        lines.append(f"| {md_escape(row.blob_path)} | {picture} | {top} | `{md_escape(command)}` |")
    lines.append(
        "\nReplace the label when the prediction is wrong, or fill `review_template.csv` "
        "(link above: columns blob_path, label) and drop it into the reviews container, then "
        "materialise label_reviews."
    )
    return "\n".join(lines)


def review_template_csv(rows: pd.DataFrame) -> bytes:
    """A review file to fill in: the predicted label stands in the label column."""
    template = pd.DataFrame(
        {
            "blob_path": rows.blob_path,
            "image_id": rows.image_id,
            "predicted_label": rows.predicted_label,
            "probability": rows.probability.round(4),
            "label": rows.predicted_label,
            "reviewer": "",
            "note": "",
        }
    )
    return template.to_csv(index=False).encode()
