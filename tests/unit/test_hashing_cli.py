"""python -m assets.hashing: CSV on stdout, problems on stderr, exit status rules."""

import argparse
import csv
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from assets.hashing.__main__ import main, parse_sizes
from assets.hashing.engine import hash_bytes

HEADER = ["path", *(f"DHashHex{s}" for s in range(1, 9))]


def write_image(path: Path, seed: int, fmt: str = "PNG") -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (30 + seed, 40, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, fmt)
    return path.read_bytes()


def run(capsys, *args: str) -> tuple[int, list[list[str]], str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, list(csv.reader(io.StringIO(out))), err


def test_rows_follow_the_arguments_and_directories_expand_recursively_sorted(tmp_path, capsys):
    single = write_image(tmp_path / "z_single.png", 1)
    folder = tmp_path / "album"
    nested = write_image(folder / "b" / "deep.png", 2)
    top = write_image(folder / "a.jpg", 3, "JPEG")
    later = write_image(folder / "c.png", 4)
    code, rows, err = run(capsys, str(tmp_path / "z_single.png"), str(folder))
    assert code == 0 and err == ""
    assert rows[0] == HEADER
    paths = [row[0] for row in rows[1:]]
    assert paths == [
        str(tmp_path / "z_single.png"),
        str(folder / "a.jpg"),
        str(folder / "b" / "deep.png"),
        str(folder / "c.png"),
    ]
    for row, data in zip(rows[1:], (single, top, nested, later), strict=True):
        assert row[1:] == [hash_bytes(data).hex(s) for s in range(1, 9)]


def test_a_corrupt_file_goes_to_stderr_and_the_rest_is_still_hashed(tmp_path, capsys):
    write_image(tmp_path / "a.png", 1)
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    write_image(tmp_path / "c.png", 2)
    code, rows, err = run(capsys, "--workers", "2", str(tmp_path))
    assert code == 0
    assert [Path(row[0]).name for row in rows[1:]] == ["a.png", "c.png"]
    assert "b.jpg" in err and ("corrupt" in err or "unidentified" in err)


def test_the_exit_status_is_nonzero_only_when_nothing_could_be_hashed(tmp_path, capsys):
    (tmp_path / "bad.png").write_bytes(b"nope")
    code, rows, err = run(capsys, str(tmp_path / "bad.png"), str(tmp_path / "missing.png"))
    assert code == 1 and rows == [HEADER]
    assert "missing.png: unreadable" in err and "bad.png: unidentified_format" in err
    write_image(tmp_path / "good.png", 5)
    code, rows, _ = run(capsys, str(tmp_path / "bad.png"), str(tmp_path / "good.png"))
    assert code == 0 and len(rows) == 2


def test_sizes_and_mode_select_the_columns_and_the_decode(tmp_path, capsys):
    data = write_image(tmp_path / "photo.jpg", 6, "JPEG")
    code, rows, _ = run(capsys, "--sizes", "3,8", "--mode", "fast", str(tmp_path / "photo.jpg"))
    assert code == 0
    assert rows[0] == ["path", "DHashHex3", "DHashHex8"]
    fast = hash_bytes(data, sizes=(3, 8), mode="fast")
    assert rows[1][1:] == [fast.hex(3), fast.hex(8)]


def test_size_ranges_parse_and_bad_ones_are_usage_errors(capsys):
    assert parse_sizes("1-8") == tuple(range(1, 9))
    assert parse_sizes("8,3") == (3, 8)
    assert parse_sizes("1-3,8,2") == (1, 2, 3, 8)
    for bad in ("0-3", "9", "3-1", "x", ","):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_sizes(bad)
    with pytest.raises(SystemExit) as info:
        main(["--sizes", "0-9", "x.png"])
    assert info.value.code == 2
    capsys.readouterr()


def test_the_module_runs_as_a_program(tmp_path):
    write_image(tmp_path / "one.png", 7)
    proc = subprocess.run(
        [sys.executable, "-m", "assets.hashing", "--sizes", "8", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "path,DHashHex8"
    assert proc.stdout.splitlines()[1].startswith(str(tmp_path / "one.png") + ",")
