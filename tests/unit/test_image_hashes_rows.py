"""image_hashes rows built column by column in Arrow keep every value of the engine's results."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import dhash
import pandas as pd
import pytest
from PIL import Image

from assets.hashing.engine import hash_bytes, to_int64
from assets.tables import HASH_SIZES, IMAGE_HASHES, PROBE_COLUMNS, image_hashes_table
from tests.support.images import encode, photo

T0 = datetime(2026, 11, 28, 6, 30, tzinfo=UTC)


def _results():
    """A photo, the same photo inside a wide white border (a trimmed content box), and a blank
    image (no content box, no trimmed hash, no probes: every nullable column null)."""
    picture = photo("chelsea.png").convert("RGB")
    framed = Image.new("RGB", (picture.width + 160, picture.height + 120), "white")
    framed.paste(picture, (80, 60))
    blank = Image.new("RGB", (300, 200), (128, 128, 128))
    images = {"photo": picture, "framed": framed, "blank": blank}
    return {name: hash_bytes(encode(image, "PNG"), HASH_SIZES) for name, image in images.items()}


@pytest.fixture(scope="module")
def results():
    return _results()


def test_the_content_cases_cover_trimmed_whole_and_unlinkable(results):
    assert results["framed"].trim_row is not None and results["framed"].content_box is not None
    assert results["photo"].probes and any(p is not None for p in results["photo"].probes)
    assert results["blank"].trim_row is None and results["blank"].content_box is None


def test_every_column_round_trips_through_the_warehouse(results, warehouse):
    triples = [(name, r, T0 + timedelta(seconds=i)) for i, (name, r) in enumerate(results.items())]
    table = image_hashes_table(triples)
    assert table.column_names == IMAGE_HASHES.column_names
    assert warehouse.upsert(IMAGE_HASHES, table) == len(results)
    rows = warehouse.read_table(IMAGE_HASHES).set_index("image_id")

    for i, (name, r) in enumerate(results.items()):
        row = rows.loc[name]
        assert row.hashed_at == T0 + timedelta(seconds=i)
        assert (row.hash_mode, row.hash_version, row.content) == (
            r.mode,
            r.algorithm_version,
            r.content,
        )
        for size in HASH_SIZES:
            word_row, word_col = r.words(size)
            assert row[f"DHashHex{size}"] == dhash.format_hex(word_row, word_col, size)
            assert row[f"dhash{size}_row"] == to_int64(word_row)
            assert row[f"dhash{size}_col"] == to_int64(word_col)
        box = r.content_box or (None,) * 4
        for corner, value in zip(("x0", "y0", "x1", "y1"), box, strict=True):
            cell = row[f"content_{corner}"]
            assert _null(cell) if value is None else cell == value
        if r.trim_row is None:
            assert _null(row.DHashHex8Trim) and _null(row.dhash8_trim_row)
        else:
            assert row.DHashHex8Trim == dhash.format_hex(r.trim_row, r.trim_col, 8)
            assert row.dhash8_trim_row == to_int64(r.trim_row)
            assert row.dhash8_trim_col == to_int64(r.trim_col)
        for probe, _ in PROBE_COLUMNS:
            words = r.probe(probe)
            cells = (row[f"dhash8_{probe}_row"], row[f"dhash8_{probe}_col"])
            if words is None:
                assert all(_null(c) for c in cells)
            else:
                assert tuple(int(c) for c in cells) == words


def test_64_bit_words_with_the_top_bit_set_stay_exact_beside_nulls(results):
    """Size-8 and trimmed words with the top bit set are two's complement in one int64 column,
    even when another row of the batch has nulls there (a float column would round them)."""
    framed = results["framed"]
    top = replace(
        framed,
        rows=(*framed.rows[:-1], (1 << 64) - 1),
        cols=(*framed.cols[:-1], (1 << 63) + 12345),
        trim_row=(1 << 63) + 1,
    )
    table = image_hashes_table([("top", top, T0), ("blank", results["blank"], T0)])
    assert table.column("dhash8_row").to_pylist()[0] == -1
    assert table.column("dhash8_col").to_pylist()[0] == -(1 << 63) + 12345
    assert table.column("dhash8_trim_row").to_pylist() == [-(1 << 63) + 1, None]
    assert str(table.schema.field("dhash8_trim_row").type) == "int64"


def test_rows_with_other_columns_than_the_spec_are_refused(results, warehouse):
    table = image_hashes_table([("photo", results["photo"], T0)])
    with pytest.raises(ValueError, match="expected"):
        warehouse.upsert(IMAGE_HASHES, table.drop_columns(["content"]))


def _null(value) -> bool:
    return bool(pd.isna(value))
