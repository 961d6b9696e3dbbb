"""The Dagster UI in a real browser: the webserver on a demo-materialised temporary instance,
pages opened in headless Chromium (driven by playwright-core from npm), screenshots kept under
test-artifacts/browser/."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from tests.support.services import REPO, free_port

CHROMIUM = os.environ.get("IMAGE_PLATFORM_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts" / "browser"
SCRIPT = REPO / "tests" / "browser" / "ui_pages.mjs"
BIN = Path(sys.executable).parent


def _require_browser() -> None:
    missing = [
        what
        for what, ok in (
            (CHROMIUM, Path(CHROMIUM).exists()),
            ("node", shutil.which("node") is not None),
            ("node_modules/playwright-core", (REPO / "node_modules" / "playwright-core").is_dir()),
        )
        if not ok
    ]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run `make install-test` first")


def _stop(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=15)
            return
        except (ProcessLookupError, subprocess.TimeoutExpired):
            continue


@pytest.fixture(scope="module")
def webserver(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """The demo materialised into a temporary home, then the webserver on a free port."""
    _require_browser()
    home = tmp_path_factory.mktemp("ui-home")
    (home / "dagster").mkdir()
    shutil.copy(REPO / "platform" / "local" / "dagster.yaml", home / "dagster" / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGE_PLATFORM_")}
    env.update(
        IMAGE_PLATFORM_ENV="local",
        IMAGE_PLATFORM_HOME=str(home),
        DAGSTER_HOME=str(home / "dagster"),
    )
    demo = subprocess.run(
        [sys.executable, "-m", "assets.demo", "run"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]

    port = free_port()
    log = open(home / "webserver.log", "wb")
    command = [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(
        [*command, "-w", str(REPO / "workspace.yaml")],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError((home / "webserver.log").read_text()[-3000:])
            try:
                with urllib.request.urlopen(f"{base}/server_info", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the webserver did not answer within 180 s") from None
                time.sleep(0.5)
        yield base, home
    finally:
        _stop(proc)
        log.close()


@pytest.fixture(scope="module")
def pages(webserver, tmp_path_factory) -> dict:
    """Every page the test looks at, opened once; text and images of each."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base, home = webserver
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        (on_demand,) = instance.get_run_records(
            filters=dg.RunsFilter(job_name="classify_images_job"), limit=1
        )
    plan = {
        "base": base,
        "chromium": CHROMIUM,
        "profile": str(tmp_path_factory.mktemp("chromium-profile")),
        "out": str(ARTIFACTS),
        "timeoutMs": 60000,
        "pages": [
            {
                "name": "asset-graph",
                "path": "/asset-groups",
                "expandGroups": True,
                "waitFor": ["raw_images", "duplicate_review", "nightly_"],
            },
            {
                "name": "duplicate-review",
                "path": "/assets/duplicate_review?view=events",
                "waitFor": ["duplicate_groups_sheet", "similar_images_png"],
                "fullPage": True,
            },
            {
                "name": "duplicate-review-sheet",
                "path": "/assets/duplicate_review?view=events",
                "waitFor": ["duplicate_groups_sheet"],
                "click": "[Show Markdown]",
                "waitForAfterClick": ["Copy"],
            },
            {
                "name": "classify-images",
                "path": f"/runs/{on_demand.dagster_run.run_id}",
                "waitFor": ["classifications"],
                "click": "[Show Markdown]",
                "waitForAfterClick": ["Copy"],
            },
        ],
    }
    plan_path = ARTIFACTS / "plan.json"
    plan_path.write_text(json.dumps(plan, indent=2))
    run = subprocess.run(
        ["node", str(SCRIPT), str(plan_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads(run.stdout)


def test_the_asset_graph_shows_every_stage_and_its_assets(pages):
    text = pages["asset-graph"]["text"]
    for group in ("ingest", "hashing", "dedup", "splits", "publish", "model", "inference"):
        assert group in text
    for asset in (
        "raw_images",
        "image_hashes",
        "stg_images",
        "duplicate_groups",
        "duplicate_review",
        "similar_images",
        "unique_images",
        "train_test_split",
        "published_images",
        "image_classifier",
    ):
        assert asset in text, asset
    assert (ARTIFACTS / "asset-graph.png").stat().st_size > 10_000


def test_the_latest_duplicate_review_lists_its_metadata(pages):
    text = pages["duplicate-review"]["text"]
    for entry in (
        "groups_with_duplicates",
        "similar_pairs",
        "duplicate_groups_sheet",
        "duplicate_groups_png",
        "similar_images_sheet",
        "similar_images_png",
    ):
        assert entry in text, entry
    assert "Materialized in run" in text


def test_the_contact_sheet_opens_as_an_image_in_the_ui(pages):
    images = pages["duplicate-review-sheet"]["images"]
    sheets = [i for i in images if i["alt"] == "duplicate_groups contact sheet"]
    assert sheets and sheets[0]["loaded"], images
    assert sheets[0]["src"].startswith("data:image/png;base64,")


def test_classify_images_shows_thumbnails_and_probabilities(pages):
    page = pages["classify-images"]
    images = [i for i in page["images"] if i["alt"].startswith("upload_")]
    assert images and all(i["loaded"] for i in images), page["images"]
    assert all(i["src"].startswith("data:image/png;base64,") for i in images)
    for text in ("upload_00_astronaut.jpg", "people", "corrupt_data"):
        assert text in page["text"], text
    assert (ARTIFACTS / "classify-images.png").stat().st_size > 10_000
