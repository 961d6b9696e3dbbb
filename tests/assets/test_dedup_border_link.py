"""The shipped dedup defaults on DuckDB: the border-trimmed link groups padded and letterboxed
copies and names itself in the reason; blank, flat and tiny pictures never join anything; equal
size-3 hashes alone do not make duplicates; and the groups equal the benchmark's Python rule."""

import hashlib
from datetime import UTC, datetime

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from assets.dedup.assets import dedup_tables
from assets.dedup.project import dbt_vars
from assets.dedup.synthetic import flip_bits, image_hashes_row, random_hash, raw_images_row
from assets.splits import quality
from assets.tables import IMAGE_HASHES, RAW_IMAGES
from resources.environment import get_settings
from resources.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.support.resources import platform_resources
from tests.support.services import local_environment

VARS = dbt_vars()
THRESHOLD = int(VARS["near_duplicate_threshold"])
TRIM = int(VARS["near_duplicate_trim_threshold"])
T0 = datetime(2024, 5, 1, tzinfo=UTC)


class Collection:
    """A synthetic catalog and its hashes, built picture by picture with what each one is."""

    def __init__(self, seed: int = 11):
        self.rng = np.random.default_rng(seed)
        self.catalog: list[dict] = []
        self.hashes: list[dict] = []
        self.ids: dict[str, str] = {}

    def add(
        self, name, width, hash8, trim=None, content="whole", hash3=None, hash5=None, hash7=None
    ) -> None:
        image_id = hashlib.sha256(name.encode()).hexdigest()
        self.ids[name] = image_id
        self.catalog.append(
            raw_images_row(
                image_id,
                f"file:///c/photos/{name}.jpg",
                "photos",
                width,
                width * 3 // 4,
                width * 100,
                T0,
                T0,
            )
        )
        sizes = {s: random_hash(self.rng, s) for s in range(1, 8)}
        sizes[8] = hash8
        if hash3 is not None:
            sizes[3] = hash3
        if hash5 is not None:
            sizes[5] = hash5
        if hash7 is not None:
            sizes[7] = hash7
        self.hashes.append(image_hashes_row(image_id, sizes, content=content, trim=trim))


def far(h, rng, bits=40):
    return flip_bits(h, [int(b) for b in rng.choice(128, size=bits, replace=False)])


@pytest.fixture(scope="module")
def groups(tmp_path_factory) -> tuple[Collection, pd.DataFrame]:
    c = Collection()
    rng = c.rng
    # A photo; its letterboxed copy (whole-frame hash far, content-box hash 3 bits away); a
    # framed copy of the letterboxed one, also smaller.
    p = random_hash(rng, 8)
    c.add("photo", 1200, p)
    c.add("letterboxed", 1000, far(p, rng), trim=flip_bits(p, [1, 50, 99]), content="trimmed")
    c.add("framed", 800, far(p, rng), trim=flip_bits(p, [1, 50, 99, 7]), content="trimmed")
    # Unrelated photos that share the photo's size-3 hash: the lab's rule would merge them.
    shared3 = random_hash(rng, 3)
    q = random_hash(rng, 8)
    c.add("other_a", 900, q, hash3=shared3)
    c.add("other_b", 700, far(q, rng), hash3=shared3)
    # Pictures without content: identical all-zero hashes, yet nothing to compare.
    zero = (0, 0)
    c.add("blank_white", 640, zero, content="blank", hash3=(0, 0))
    c.add("blank_black", 640, zero, content="blank", hash3=(0, 0))
    c.add("flat_grey", 640, zero, content="flat", hash3=(0, 0))
    c.add("one_pixel_wide", 1, zero, content="too_small", hash3=(0, 0))
    # A cropped copy: size-8 hash 14 bits away (beyond the size-8 threshold), size-5 hash 1 bit
    # away: the multi-size link. A look-alike with the photo's coarse size-5 hash but a far
    # size-8 hash, and one 14 bits away at size 8 with an unrelated size-5 hash, stay apart.
    p5 = random_hash(rng, 5)
    c.add("photo5", 1100, (r8 := random_hash(rng, 8)), hash5=p5)
    c.add("cropped", 900, flip_bits(r8, range(0, 128, 9)[:14]), hash5=(p5[0] ^ 4, p5[1]))
    c.add("coarse_lookalike", 800, far(r8, rng), hash5=p5)
    c.add("loose_only", 700, flip_bits(r8, range(1, 128, 9)[:14]))
    c.add("blank_coarse", 640, zero, content="blank", hash5=p5)
    # A copy cropped further: size-5 hash unrelated, size-7 hash 3 of 98 bits away and size-8
    # hash 16 bits away: the multi-size link's size-7 rule. A look-alike with the same size-7
    # hash but a far size-8 hash stays apart.
    p7 = random_hash(rng, 7)
    c.add("photo7", 1150, (s8 := random_hash(rng, 8)), hash7=p7)
    c.add("cropped7", 950, flip_bits(s8, range(2, 128, 8)[:16]), hash7=(p7[0] ^ 0b1011, p7[1]))
    c.add("fine_lookalike", 850, far(s8, rng), hash7=p7)
    # A bordered copy whose box was too small to hash: only its plain link may join it.
    c.add("small_box", 600, flip_bits(q, [3]), content="small_box")
    for i in range(40):
        c.add(f"unrelated{i}", 640, random_hash(rng, 8))

    home = tmp_path_factory.mktemp("home")
    with local_environment(home):
        settings = get_settings()
        warehouse = DuckDBWarehouse(path=str(settings.duckdb_path))
        # Catalog columns this test does not care about (EXIF capture data ...) stay empty.
        catalog = [{k: row.get(k) for k in RAW_IMAGES.column_names} for row in c.catalog]
        warehouse.insert_new(RAW_IMAGES, RAW_IMAGES.frame(catalog))
        warehouse.insert_new(IMAGE_HASHES, IMAGE_HASHES.frame(c.hashes))
        resources = platform_resources(warehouse, dbt=True)
        result = dg.materialize([dedup_tables], resources=resources)
        assert result.success
        checks = result.get_asset_check_evaluations()
        assert checks and all(e.passed for e in checks), [
            e.check_name for e in checks if not e.passed
        ]
        with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
            table = con.execute("SELECT * FROM duplicate_groups").df()
    return c, table.set_index("image_id")


def test_letterboxed_and_framed_copies_join_their_photo_by_the_border_trimmed_link(groups):
    c, table = groups
    photo = c.ids["photo"]
    for name, distance in (("letterboxed", 3), ("framed", 4)):
        row = table.loc[c.ids[name]]
        assert row.representative_image_id == photo
        assert row.reason_code == "border_trimmed"
        assert row.reason == f"border_trimmed (distance {distance}) of {photo}"
    assert table.loc[photo].reason_code == "representative"
    assert table.loc[photo].group_size == 3


def test_a_cropped_copy_joins_its_photo_by_the_multi_size_link_and_names_it(groups):
    c, table = groups
    photo = c.ids["photo5"]
    row = table.loc[c.ids["cropped"]]
    assert row.representative_image_id == photo
    assert row.reason_code == "multi_size"
    assert row.reason == f"multi_size (distance 14) of {photo}"
    # one size alone links nothing: the coarse look-alike and the 14-bit stranger stay apart
    for name in ("coarse_lookalike", "loose_only", "blank_coarse"):
        assert table.loc[c.ids[name]].group_size == 1, name


def test_a_copy_close_at_size_7_joins_its_photo_by_the_multi_size_link(groups):
    c, table = groups
    photo = c.ids["photo7"]
    row = table.loc[c.ids["cropped7"]]
    assert row.representative_image_id == photo
    assert row.reason == f"multi_size (distance 16) of {photo}"
    assert table.loc[c.ids["fine_lookalike"]].group_size == 1


def test_equal_size_3_hashes_alone_do_not_make_duplicates(groups):
    c, table = groups
    assert table.loc[c.ids["other_a"]].group_id != table.loc[c.ids["other_b"]].group_id


def test_pictures_without_content_stay_alone_even_with_identical_hashes(groups):
    c, table = groups
    for name in ("blank_white", "blank_black", "flat_grey", "one_pixel_wide"):
        row = table.loc[c.ids[name]]
        assert row.group_size == 1 and row.reason_code == "unique", name


def test_an_image_without_a_trimmed_hash_still_takes_its_plain_link(groups):
    c, table = groups
    row = table.loc[c.ids["small_box"]]
    assert row.reason_code == "near_duplicate"
    assert row.representative_image_id == c.ids["other_a"]


def test_the_groups_equal_the_python_rule_the_quality_benchmark_scores(groups):
    c, table = groups
    hashes = IMAGE_HASHES.frame(c.hashes).assign(key=lambda d: d.image_id)
    predicted = quality.components(quality.link_matrix(hashes, quality.rule_from_vars(VARS)))
    # group_id is the smallest image_id of the group
    smallest = pd.Series(hashes.image_id.to_numpy()).groupby(predicted).transform("min")
    python_groups = dict(zip(hashes.image_id, smallest, strict=True))
    sql_groups = table.group_id.to_dict()
    assert python_groups == sql_groups
