"""The whole chain as a person runs it (curation, both publish sides, the model, one night), the
source collection it runs on and the night's arrivals: shared by the fault suite and the sensor
tests that kill real runs."""

import os
from datetime import UTC, date, datetime, time

from tests.support.harness import Platform, snapshot
from tests.support.images import encode, photo

DAY = date(2026, 3, 14)
# The whole chain, as a person runs it from the UI: curation, both sides, the model, one night.
CHAIN = [
    {"job": "curation_job"},
    {"job": "publish_job", "partition": "train"},
    {"job": "publish_job", "partition": "test"},
    # Ten source images cannot show an accuracy floor; the promotion gate has its own tests.
    {
        "job": "model_job",
        "config": {"ops": {"image_classifier": {"config": {"min_test_accuracy": 0.0}}}},
    },
    {"job": "nightly_classification_job", "partition": DAY.isoformat()},
]


def chain_from(job: str, partition: str | None = None) -> list[dict]:
    """The chain from the first run of ``job`` (and ``partition``) on."""
    for i, step in enumerate(CHAIN):
        if step["job"] == job and (partition is None or step.get("partition") == partition):
            return CHAIN[i:]
    raise KeyError(job)


def drop_arrivals(platform: Platform) -> None:
    """The night's uploads (two photos, a copy of one, a broken file), dated noon on DAY."""
    store = platform.blob_store
    store.ensure_container("incoming")
    cat = encode(photo("chelsea.png").resize((300, 200)), quality=80)
    arrivals = {
        "cat.jpg": cat,
        "cat-again.jpg": cat,
        "coffee.png": encode(photo("coffee.png").resize((200, 150)), "PNG"),
        "broken.jpg": cat[:400],
    }
    noon = datetime.combine(DAY, time(12), tzinfo=UTC).timestamp()
    for name, data in arrivals.items():
        blob = f"{DAY:%Y/%m/%d}/{name}"
        store.write_bytes("incoming", blob, data)
        os.utime(os.path.join(store.root, "incoming", blob), (noon, noon))


def platform_snapshot(platform: Platform) -> dict:
    return snapshot(
        platform.warehouse_path, platform.blob_store, replace={str(platform.home): "<home>"}
    )


def write_source(root):
    """Two labels of distinct photo tiles, plus what a real collection brings: a resized
    near-duplicate, a byte-identical copy under another name and a truncated file."""
    labels = {
        "animals": ["chelsea.png", "astronaut.png"],
        "objects": ["coffee.png", "rocket.jpg"],
    }
    for label, photos in labels.items():
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        for name in photos:
            image = photo(name)
            w, h = image.size
            for i, box in enumerate(
                [
                    (0, 0, w // 2, h // 2),
                    (w // 2, 0, w, h // 2),
                    (0, h // 2, w // 2, h),
                    (w // 2, h // 2, w, h),
                ]
            ):
                tile = image.crop(box)
                stem = f"{name.split('.')[0]}-{i}"
                (folder / f"{stem}.jpg").write_bytes(encode(tile, quality=90))
    first = root / "animals" / "chelsea-0.jpg"
    (root / "animals" / "chelsea-0-copy.jpg").write_bytes(first.read_bytes())
    small = photo("chelsea.png").crop((0, 0, 225, 150)).resize((112, 75))
    (root / "animals" / "chelsea-0-small.png").write_bytes(encode(small, "PNG"))
    (root / "objects" / "truncated.jpg").write_bytes(first.read_bytes()[:700])
    return root
