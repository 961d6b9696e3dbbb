"""Contact sheets and charts are PNGs that show what they claim, even with unreadable images."""

import io

import pandas as pd
from PIL import Image

from assets.dedup.review import contact_sheet, largest_groups, similar_pairs
from assets.plots import predictions_per_night_png, split_counts_png, unique_counts_png


def _jpeg(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, "JPEG")
    return buffer.getvalue()


MEMBERS = pd.DataFrame(
    {
        "image_id": ["a", "b", "c", "d", "e"],
        "group_id": ["a", "a", "a", "d", "d"],
        "group_size": [3, 3, 3, 2, 2],
        "is_representative": [True, False, False, True, False],
        "rank_in_group": [1, 2, 3, 1, 2],
        "reason_code": [
            "representative",
            "same_dhash3",
            "near_duplicate",
            "representative",
            "same_dhash3",
        ],
        "label": ["cats"] * 3 + ["dogs"] * 2,
        "width": [64, 32, 16, 64, 32],
        "height": [48, 24, 12, 48, 24],
        "format": ["JPEG"] * 5,
        "DHashHex3": ["0101", "0101", "0100", "19032", "19032"],
    }
)


def _png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


def test_the_largest_group_comes_first_with_its_kept_copy_leading():
    rows = largest_groups(MEMBERS)
    assert [len(r.tiles) for r in rows] == [3, 2]
    first = rows[0].tiles[0]
    assert first.kept and first.image_id == "a"
    assert "DHashHex3 0101" in first.lines and "KEPT" in first.lines
    assert "64x48 JPEG" in first.lines


def test_similar_pairs_are_shown_most_different_first():
    pairs = pd.DataFrame(
        {
            "image_id_a": ["a", "d"],
            "image_id_b": ["b", "e"],
            "distance": [3, 20],
            "is_near_duplicate": [True, False],
        }
    )
    images = MEMBERS.assign(DHashHex8="ff" * 16)
    rows = similar_pairs(pairs, images)
    assert "20 of 128 bits" in rows[0].title and "beyond" in rows[0].title
    assert rows[0].tiles[0].kept and not rows[0].tiles[1].kept


def test_a_contact_sheet_is_a_png_and_survives_unreadable_images():
    images = {"a": _jpeg("red"), "b": b"not an image", "d": _jpeg("blue")}
    png = contact_sheet("review", largest_groups(MEMBERS), images.get)
    width, height = _png_size(png)
    assert width > 3 * 112 and height > 2 * 112
    assert _png_size(contact_sheet("nothing", [], images.get))


def test_the_charts_render_with_rows_and_without():
    counts = pd.DataFrame(
        {"label": ["cats", "dogs"], "images": [10, 5]}
        | {f"Count{s}": [min(10, s + 2), min(5, s)] for s in range(8, 0, -1)}
    )
    split = pd.DataFrame(
        {"label": ["cats", "cats", "dogs"], "split": ["train", "test", "train"]}
    ).assign(is_representative=True)
    nights = pd.DataFrame(
        {"partition_date": ["2026-01-01", "2026-01-02"], "predicted_label": ["cats", "dogs"]}
    )
    for png in (
        unique_counts_png(counts),
        split_counts_png(split),
        predictions_per_night_png(nights),
        unique_counts_png(counts.head(0)),
        split_counts_png(split.head(0)),
        predictions_per_night_png(nights.head(0)),
    ):
        assert _png_size(png)[0] > 100
