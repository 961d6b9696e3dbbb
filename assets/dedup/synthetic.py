"""Synthetic difference hashes and catalog rows shaped like a real collection (no Dagster).

A real collection holds clusters of near-duplicates (one photo resized, re-compressed, converted:
hashes a few bits apart) among unrelated photos (hashes about half their bits apart). The tests
and the near-duplicate benchmark build tables of that shape here, with known distances.
"""

from collections.abc import Iterable
from datetime import UTC, datetime

import dhash
import numpy as np
import pandas as pd

from assets.tables import PHOTO_COLUMNS, PROBE_COLUMNS

HASH_BITS = 128  # size 8: 64-bit row hash + 64-bit column hash
_U64 = 1 << 64


def to_signed64(value: int) -> int:
    """An unsigned 64-bit value as the signed BIGINT the warehouse stores."""
    return value - _U64 if value >= 1 << 63 else value


def to_unsigned64(value: int) -> int:
    return value + _U64 if value < 0 else value


def hamming(a: tuple[int, int], b: tuple[int, int]) -> int:
    """Bits that differ between two (row, col) hashes, signed or unsigned alike."""
    return sum(
        bin(to_unsigned64(x) ^ to_unsigned64(y)).count("1") for x, y in zip(a, b, strict=True)
    )


def flip_bits(hash8: tuple[int, int], bits: Iterable[int]) -> tuple[int, int]:
    """Flip the given bit positions (0..63 row, 64..127 column) of a signed size-8 hash."""
    row, col = (to_unsigned64(v) for v in hash8)
    for bit in bits:
        if bit < 64:
            row ^= 1 << bit
        else:
            col ^= 1 << (bit - 64)
    return to_signed64(row), to_signed64(col)


def random_hash(rng: np.random.Generator, size: int) -> tuple[int, int]:
    """A uniformly random size-s hash: row and column of s*s bits each (size 8 signed)."""
    bits = size * size
    row, col = (int.from_bytes(rng.bytes(8), "little") >> (64 - bits) for _ in range(2))
    return (to_signed64(row), to_signed64(col)) if size == 8 else (row, col)


def image_hashes_row(
    image_id: str,
    hashes: dict[int, tuple[int, int]],
    hashed_at: datetime | None = None,
    content: str = "whole",
    trim: tuple[int, int] | None = None,
    probes: dict[str, tuple[int, int]] | None = None,
) -> dict:
    """One image_hashes row (see assets/tables.py) from integer hashes at sizes 1..8.

    By default an image without borders: its content box is the whole image and its trimmed
    hash is its size-8 hash. ``trim`` (signed size-8 words) gives a bordered image's trimmed
    hash; ``content`` its content code (a code that forbids links leaves the trimmed hash null).
    ``probes``: signed (row, col) words of probe hashes by name (``area``, ``centre``,
    ``cut_top`` ...; see assets/tables.py PROBE_COLUMNS); the others are null.
    """
    row: dict = {"image_id": image_id}
    for size in range(1, 9):
        r, c = hashes[size]
        if size == 8:
            r, c = to_unsigned64(r), to_unsigned64(c)
        row[f"DHashHex{size}"] = dhash.format_hex(r, c, size=size)
    for size in range(1, 9):
        r, c = hashes[size]
        row[f"dhash{size}_row"], row[f"dhash{size}_col"] = r, c
    row["hash_mode"] = "exact"
    row["hash_version"] = "synthetic"
    row["hashed_at"] = hashed_at or datetime(2024, 1, 1, tzinfo=UTC)
    row["content"] = content
    for name in ("content_x0", "content_y0", "content_x1", "content_y1"):
        row[name] = None
    if trim is None and content == "whole":
        trim = hashes[8]
    if trim is None or content not in ("whole", "trimmed"):
        row["DHashHex8Trim"] = row["dhash8_trim_row"] = row["dhash8_trim_col"] = None
    else:
        r, c = to_unsigned64(trim[0]), to_unsigned64(trim[1])
        row["DHashHex8Trim"] = dhash.format_hex(r, c, size=8)
        row["dhash8_trim_row"], row["dhash8_trim_col"] = trim
    for probe, _ in PROBE_COLUMNS:
        words = (probes or {}).get(probe) if content in ("whole", "trimmed") else None
        row[f"dhash8_{probe}_row"], row[f"dhash8_{probe}_col"] = words or (None, None)
    return row


def raw_images_row(
    image_id: str,
    source_uri: str,
    label: str,
    width: int,
    height: int,
    byte_size: int,
    last_modified: datetime,
    ingested_at: datetime,
) -> dict:
    """One raw_images row (see assets/tables.py): a still RGB JPEG without EXIF, named by the
    last segment of ``source_uri``."""
    return {
        "image_id": image_id,
        "source_uri": source_uri,
        "name": source_uri.rsplit("/", 1)[-1],
        "label": label,
        "width": width,
        "height": height,
        "format": "JPEG",
        "mode": "RGB",
        "byte_size": byte_size,
        "exif_orientation": None,
        "frame_count": 1,
        "is_animated": False,
        "last_modified": last_modified,
        "ingested_at": ingested_at,
        **dict.fromkeys(c.name for c in PHOTO_COLUMNS),
    }


def near_duplicate_hashes(
    n: int,
    threshold: int,
    seed: int = 0,
    cluster_fraction: float = 0.1,
    max_variants: int = 4,
) -> pd.DataFrame:
    """``n`` size-8 hashes: clusters of near-duplicates among uniformly random hashes.

    About ``cluster_fraction`` of the rows belong to clusters: a random base hash and 1 to
    ``max_variants`` variants, each with 1..``threshold`` of its 128 bits flipped (uniformly), so
    variants are within the threshold of their base and up to twice it from each other. The rows
    are shuffled. Columns: ``image_index`` (0..n-1, a stable id), ``dhash8_row``, ``dhash8_col``
    (signed 64-bit), ``cluster`` (-1 for unclustered) and ``flipped`` (bits flipped from the base).
    """
    rng = np.random.default_rng(seed)
    info = np.iinfo(np.int64)
    row = rng.integers(info.min, info.max, size=n, dtype=np.int64, endpoint=True)
    col = rng.integers(info.min, info.max, size=n, dtype=np.int64, endpoint=True)
    cluster = np.full(n, -1, dtype=np.int64)
    flipped = np.zeros(n, dtype=np.int64)

    # Lay clusters out over the first rows (shuffled at the end): base, then its variants.
    target = int(n * cluster_fraction)
    sizes: list[int] = []
    while sum(sizes) < target:
        sizes.append(1 + int(rng.integers(1, max_variants + 1)))
    sizes[-1] -= sum(sizes) - target
    if sizes and sizes[-1] < 2:
        sizes.pop()
    starts = np.cumsum([0, *sizes[:-1]]).astype(np.int64)
    variant_rows = (
        np.concatenate(
            [np.arange(s + 1, s + k, dtype=np.int64) for s, k in zip(starts, sizes, strict=True)]
        )
        if sizes
        else np.zeros(0, dtype=np.int64)
    )
    base_of = np.repeat(starts, [k - 1 for k in sizes]) if sizes else variant_rows
    for i, (s, k) in enumerate(zip(starts, sizes, strict=True)):
        cluster[s : s + k] = i

    urow, ucol = row.view(np.uint64), col.view(np.uint64)
    chunk = 100_000
    for lo in range(0, len(variant_rows), chunk):
        rows = variant_rows[lo : lo + chunk]
        bases = base_of[lo : lo + chunk]
        distance = (
            rng.integers(1, threshold + 1, size=len(rows))
            if threshold
            else np.zeros(len(rows), dtype=np.int64)
        )
        # distinct positions per variant: the first `distance` of a random permutation of 128
        order = np.argsort(rng.random((len(rows), HASH_BITS)), axis=1)[:, : max(threshold, 1)]
        take = np.arange(order.shape[1])[None, :] < np.asarray(distance)[:, None]
        row_mask = np.zeros(len(rows), dtype=np.uint64)
        col_mask = np.zeros(len(rows), dtype=np.uint64)
        for j in range(order.shape[1]):
            bit = order[:, j].astype(np.uint64)
            on = take[:, j]
            in_row = on & (bit < 64)
            in_col = on & (bit >= 64)
            row_mask[in_row] |= np.left_shift(np.uint64(1), bit[in_row])
            col_mask[in_col] |= np.left_shift(np.uint64(1), bit[in_col] - np.uint64(64))
        urow[rows] = urow[bases] ^ row_mask
        ucol[rows] = ucol[bases] ^ col_mask
        flipped[rows] = distance

    perm = rng.permutation(n)
    return pd.DataFrame(
        {
            "image_index": np.arange(n, dtype=np.int64),
            "dhash8_row": row[perm],
            "dhash8_col": col[perm],
            "cluster": cluster[perm],
            "flipped": flipped[perm],
        }
    )
