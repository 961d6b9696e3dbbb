"""Materialise every asset of the platform on the configured environment, in dependency order.

The chain runs as the jobs a person would launch from the UI: curation (catalog, hashes, dedup,
split), publishing of each side, the classifier, and one nightly classification of a demo
"incoming" day (a handful of new photos and a broken file dropped into the incoming container,
dated yesterday).
"""

import io
import os
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
from PIL import Image, ImageEnhance

from assets.demo.collection import source_photos
from resources.blob_store import LocalBlobStore
from resources.environment import Settings


def _jpeg(image: Image.Image, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def demo_arrivals() -> dict[str, bytes]:
    """New photos as a phone would send them: re-framed, re-lit copies, plus one broken upload."""
    arrivals = {}
    for i, photo in enumerate(source_photos()[::3]):
        with Image.open(photo.path) as opened:
            image = opened.convert("RGB")
        w, h = image.size
        image = image.crop((w // 20, h // 20, w - w // 20, h - h // 20)).resize(
            (w * 2 // 3, h * 2 // 3)
        )
        arrivals[f"upload_{i:02d}_{photo.name}.jpg"] = _jpeg(
            ImageEnhance.Brightness(image).enhance(0.9), 80
        )
    first = next(iter(arrivals.values()))
    arrivals["upload_broken.jpg"] = first[: len(first) // 4]
    return arrivals


def drop_demo_arrivals(settings: Settings, store, day) -> int:
    """Write the demo arrivals into the incoming container, last modified at noon on ``day``."""
    incoming = settings.incoming
    store.ensure_container(incoming.container)
    noon = datetime.combine(day, time(12), tzinfo=ZoneInfo(settings.timezone))
    arrivals = demo_arrivals()
    for name, data in arrivals.items():
        blob = f"{incoming.prefix}{day:%Y/%m/%d}/{name}"
        store.write_bytes(incoming.container, blob, data, content_type="image/jpeg")
        if isinstance(store, LocalBlobStore):
            path = os.path.join(store.root, incoming.container, blob)
            os.utime(path, (noon.timestamp(), noon.timestamp()))
    return len(arrivals)


def materialize_everything(settings: Settings) -> int:
    from assets.automation.runs import release_dead_runs
    from assets.definitions import defs

    instance = dg.DagsterInstance.get()
    # A run killed earlier (Ctrl-C twice, out of memory) must not keep its pool slot.
    for dead in release_dead_runs(instance):
        print(f"failed run {dead.run_id} ({dead.job_name}): its process is gone; slots freed")
    yesterday = (datetime.now(ZoneInfo(settings.timezone)) - timedelta(days=1)).date()
    assert defs.resources is not None  # the code location always carries its resources
    store = defs.resources["blob_store"]
    arrivals = f"{settings.incoming.container}/{settings.incoming.prefix}{yesterday:%Y/%m/%d}/"
    on_demand = {"ops": {"classify_images": {"config": {"paths": [arrivals]}}}}
    steps = [
        ("curation_job", None, None),
        ("publish_job", "train", None),
        ("publish_job", "test", None),
        ("model_job", None, None),
        ("nightly_classification_job", yesterday.isoformat(), None),
        # The same arrivals classified on demand: thumbnails and every class's probability.
        ("classify_images_job", None, on_demand),
    ]
    failed = False
    skip: set[str] = set()
    for job_name, partition, run_config in steps:
        if job_name in skip:
            continue
        if job_name == "nightly_classification_job":
            if isinstance(store, LocalBlobStore):
                count = drop_demo_arrivals(settings, store, yesterday)
                print(f"dropped {count} demo arrivals into {settings.incoming.uri} for {yesterday}")
            else:
                print("skipping the demo night: arrivals can only be back-dated in the local store")
                skip.add("classify_images_job")  # nothing arrived to classify either
                continue
        job = defs.resolve_job_def(job_name)
        label = f"{job_name}[{partition}]" if partition else job_name
        result = job.execute_in_process(
            run_config=run_config, instance=instance, partition_key=partition, raise_on_error=False
        )
        keys = sorted(
            {
                e.asset_key.to_user_string()
                for e in result.get_asset_materialization_events()
                if e.asset_key is not None
            }
        )
        checks = result.get_asset_check_evaluations()
        failed_checks = [c.check_name for c in checks if not c.passed]
        print(f"{label}: {'ok' if result.success else 'FAILED'} — materialised {', '.join(keys)}")
        if failed_checks:
            print(f"  checks that did not pass: {', '.join(failed_checks)}")
        if not result.success:
            failed = True
            break
    print(f"\nwarehouse (DuckDB): {settings.duckdb_path}")
    print(f"blob store:         {settings.local_blob_root}")
    print(f"dagster home:       {instance.root_directory}")
    print("open the UI with:   make dev   (then http://127.0.0.1:3000)")
    return 1 if failed else 0
