"""The engine's API: results, integer forms, versions, batches and errors."""

import io
import subprocess
import sys
import threading

import dhash
import numpy as np
import pytest
from PIL import Image

from assets.decode import DecodePolicy, UndecodableImageError
from assets.hashing import engine
from assets.hashing.engine import HashResult, hash_bytes, hash_many

SIZES = tuple(range(1, 9))

pytestmark = pytest.mark.filterwarnings("ignore:Image.Image.getdata:DeprecationWarning")


def png_bytes(seed: int, size=(64, 48)) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def jpeg_bytes(seed: int, size=(320, 240), exif_orientation: int | None = None) -> bytes:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : size[1], 0 : size[0]]
    base = 128 + 80 * np.sin(xx / rng.uniform(20, 60)) * np.cos(yy / rng.uniform(20, 60))
    pixels = np.clip(base[..., None] + rng.normal(0, 8, (size[1], size[0], 3)), 0, 255)
    buf = io.BytesIO()
    options = {}
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        options["exif"] = exif
    Image.fromarray(pixels.astype(np.uint8)).save(buf, "JPEG", quality=90, **options)
    return buf.getvalue()


def test_each_size_carries_row_col_hex_and_signed_forms_consistent_with_dhash():
    data = png_bytes(1)
    result = hash_bytes(data)
    image = Image.open(io.BytesIO(data))
    assert result.sizes == SIZES
    for size in SIZES:
        row, col = dhash.dhash_row_col(image, size)
        entry = result[size]
        assert (entry.size, entry.row, entry.col) == (size, row, col)
        assert entry.hex == result.hex(size) == dhash.format_hex(row, col, size)
        assert engine.from_int64(entry.row_int64) == row
        assert engine.from_int64(entry.col_int64) == col
        assert -(2**63) <= entry.row_int64 < 2**63 and -(2**63) <= entry.col_int64 < 2**63
    assert result.dhash8_row == result[8].row_int64
    assert result.dhash8_col == result[8].col_int64


def test_size8_words_with_the_top_bit_set_become_negative_bigints():
    top = (1 << 63) | 5
    result = HashResult((8,), (top,), (7,), "exact", "v", "kernel", 9, 9)
    assert result.dhash8_row == top - 2**64 < 0
    assert result.dhash8_col == 7
    assert engine.to_int64(2**64 - 1) == -1 and engine.from_int64(-1) == 2**64 - 1


def test_hamming_distance_is_the_same_on_signed_and_unsigned_forms():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a, b = (int(x) for x in rng.integers(0, 2**64 - 1, 2, dtype=np.uint64, endpoint=True))
        signed = (engine.to_int64(a) ^ engine.to_int64(b)) & (2**64 - 1)
        assert signed.bit_count() == (a ^ b).bit_count()


def test_sizes_are_sorted_deduplicated_and_limited_to_one_through_eight():
    data = png_bytes(2)
    assert hash_bytes(data, sizes=[8, 3, 3]).sizes == (3, 8)
    with pytest.raises(KeyError):
        hash_bytes(data, sizes=[3])[8]
    for bad in ([0], [9], []):
        with pytest.raises(ValueError):
            hash_bytes(data, sizes=bad)
    with pytest.raises(ValueError):
        hash_bytes(data, mode="slow")  # type: ignore[arg-type]


def test_results_record_the_mode_and_version_that_produced_them():
    jpeg, png = jpeg_bytes(3), png_bytes(3)
    assert "pillow13.0.0" in engine.HASH_ALGORITHM_VERSION
    assert engine.FAST_HASH_ALGORITHM_VERSION != engine.HASH_ALGORITHM_VERSION
    exact = hash_bytes(jpeg, mode="exact")
    fast = hash_bytes(jpeg, mode="fast")
    png_fast = hash_bytes(png, mode="fast")
    assert (exact.mode, exact.algorithm_version) == ("exact", engine.HASH_ALGORITHM_VERSION)
    assert (fast.mode, fast.algorithm_version) == ("fast", engine.FAST_HASH_ALGORITHM_VERSION)
    assert (png_fast.mode, png_fast.algorithm_version) == ("exact", exact.algorithm_version)
    assert png_fast.hexes == hash_bytes(png).hexes
    no_exif = DecodePolicy(apply_exif_orientation=False)
    assert hash_bytes(jpeg, policy=no_exif).algorithm_version.endswith("-noexif")


def test_exif_orientation_is_applied_unless_the_policy_says_otherwise():
    rotated = jpeg_bytes(4, size=(120, 80), exif_orientation=6)
    oriented = hash_bytes(rotated)
    as_stored = hash_bytes(rotated, policy=DecodePolicy(apply_exif_orientation=False))
    assert (oriented.width, oriented.height) == (80, 120)
    assert (as_stored.width, as_stored.height) == (120, 80)
    assert oriented.hexes != as_stored.hexes


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty_file"),
        (b"definitely not an image", "unidentified_format"),
        (jpeg_bytes(5)[:400], "corrupt_header"),
        (jpeg_bytes(5)[:-3000], "corrupt_data"),
    ],
)
def test_undecodable_bytes_raise_with_a_stable_reason(data, reason):
    with pytest.raises(UndecodableImageError) as info:
        hash_bytes(data)
    assert info.value.reason == reason


def test_hash_many_keeps_input_order_with_two_workers_and_returns_errors_in_place():
    good = {f"img{i}": (jpeg_bytes(i) if i % 2 else png_bytes(i)) for i in range(12)}

    def missing() -> bytes:
        raise FileNotFoundError("gone")

    items = []
    for i, (key, data) in enumerate(good.items()):
        items.append((key, data if i % 3 else (lambda d=data: d)))
        if i == 4:
            items.append(("corrupt", b"\xff\xd8\xff garbage"))
        if i == 8:
            items.append(("missing", missing))
    results = list(hash_many(items, workers=2))
    assert [key for key, _ in results] == [key for key, _ in items]
    by_key = dict(results)
    assert isinstance(by_key["corrupt"], UndecodableImageError)
    assert by_key["missing"].reason == "unreadable"
    for key, data in good.items():
        assert by_key[key].hexes == hash_bytes(data).hexes


def test_hash_many_reads_only_a_bounded_window_ahead_of_the_consumer():
    pulled = 0
    lock = threading.Lock()

    def items():
        nonlocal pulled
        for i in range(40):
            with lock:
                pulled += 1
            yield i, png_bytes(i, size=(16, 16))

    stream = hash_many(items(), workers=2, max_in_flight=3)
    first_key, _ = next(stream)
    assert first_key == 0
    assert pulled <= 4
    assert [key for key, _ in stream] == list(range(1, 40))


def test_hash_many_with_one_worker_matches_hash_bytes():
    items = [(i, jpeg_bytes(i, size=(90, 70))) for i in range(5)]
    for (key, data), (key2, result) in zip(
        items, hash_many(items, sizes=(2, 8), mode="fast", workers=1), strict=True
    ):
        assert key == key2
        assert result.hexes == hash_bytes(data, sizes=(2, 8), mode="fast").hexes


def test_the_package_imports_nothing_heavy_and_the_engine_stays_free_of_dagster():
    code = (
        "import sys\n"
        "import assets.hashing\n"
        "assert 'numba' not in sys.modules and 'PIL' not in sys.modules, 'package not light'\n"
        "import assets.hashing.engine, assets.hashing.__main__\n"
        "assert not any(m == 'dagster' or m.startswith('dagster.') for m in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_after_the_first_image_of_a_kind_no_kernel_call_takes_numbas_python_dispatch_path(
    monkeypatch,
):
    # numba's dispatcher matches argument types in C unless an argument is left to its default
    # (or a type is new): then every call goes through its Python compile lookup with the GIL
    # held, about half a millisecond per image, which serialises the worker threads.
    from numba.core.dispatcher import Dispatcher

    framed = np.pad(np.asarray(Image.open(io.BytesIO(jpeg_bytes(3)))), ((20, 20), (0, 0), (0, 0)))
    buf = io.BytesIO()
    Image.fromarray(framed).save(buf, "JPEG", quality=92)
    images = [jpeg_bytes(1), jpeg_bytes(2, exif_orientation=6), buf.getvalue(), png_bytes(4)]
    for mode in ("exact", "fast"):
        for data in images:  # new types compile (or load from the cache) once
            hash_bytes(data, mode=mode)
    slow_calls: list[str] = []
    lookup = Dispatcher._compile_for_args

    def recorded(self, *args, **kwargs):
        slow_calls.append(self.py_func.__name__)
        return lookup(self, *args, **kwargs)

    monkeypatch.setattr(Dispatcher, "_compile_for_args", recorded)
    for mode in ("exact", "fast"):
        for data in images:
            result = hash_bytes(data, mode=mode)
            assert result.backend == "kernel"
    assert slow_calls == []


def test_hash_many_with_two_workers_raises_an_unexpected_error_at_its_items_turn():
    # Workers hash runs of consecutive images per task; an error that is not a per-image
    # result still surfaces after every earlier item, and only then.
    def broken() -> bytes:
        raise RuntimeError("reader bug")

    data = png_bytes(1, size=(16, 16))
    items = [(i, broken if i == 11 else data) for i in range(40)]
    seen = []
    with pytest.raises(RuntimeError, match="reader bug"):
        for key, _ in hash_many(items, workers=2):
            seen.append(key)
    assert seen == list(range(11))


@pytest.mark.parametrize("count", [1, 3, 17, 100])
def test_hash_many_with_two_workers_yields_every_item_once_in_order(count):
    items = [(i, png_bytes(i % 5, size=(16, 16))) for i in range(count)]
    assert [key for key, _ in hash_many(items, sizes=(2,), workers=2)] == list(range(count))
