"""Shared pieces of the fault-injection suite: snapshots of everything the platform leaves behind
and a comparison that names what a faulted run lost, duplicated or left stale.

A snapshot is ``{name: DataFrame}``: one entry per warehouse table (every table and view of the
DuckDB file, dbt models included) and one ``blobs`` entry listing every blob of every container
with a digest of its content. Values that legitimately differ between two correct runs are left
out: timestamps (``*_at``, last-modified), run ids and blob etags (the local store derives them
from modification times). Parquet blobs are digested by their rows without those columns, so a
manifest rewritten with a new ``classified_at`` still matches.
"""

import contextlib
import hashlib
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from tests.support.services import AZURITE_ACCOUNT, AZURITE_KEY, azurite_binary, free_port

# reused: whether a result was recomputed or taken from an identical image (history, not content)
VOLATILE_COLUMNS = {"etag", "run_id", "dagster_run_id", "reused"}


def _derived_key_columns() -> set[str]:
    """Key columns that hash another column (``source_key`` of ``source_uri`` …). The hashed
    column is compared after normalisation (``<home>``); its hash, taken before, would differ
    between two runs in two folders although the content is the same."""
    import assets.tables
    from resources.warehouse.schema import TableSpec

    specs = [v for v in vars(assets.tables).values() if isinstance(v, TableSpec)]
    return {c.name for spec in specs for c in spec.columns if c.derived_from}


DERIVED_KEY_COLUMNS = _derived_key_columns()
_TIME_TYPES = ("TIMESTAMP", "TIME", "INTERVAL")
FLOAT_DIGITS = 6
PER_RUN_CONTAINERS = {"reports"}
# Logs of the runs that refreshed a table, one row per run: a faulted sequence has more runs than
# a clean one, and its runs chose their mode for other reasons. What must match is the state the
# newest row covers (these columns of the row newest by the given time column).
RUN_LOGS = {"dedup_refreshes": ("refreshed_at", ("catalog_rows", "hash_rows", "fingerprint"))}


def _stable(df: pd.DataFrame, replace: dict[str, str] | None = None) -> pd.DataFrame:
    """Drop volatile columns, normalise values, sort rows: equal content gives equal frames."""
    keep = [
        c
        for c in df.columns
        if c not in VOLATILE_COLUMNS
        and c not in DERIVED_KEY_COLUMNS
        and not str(c).endswith("_at")
        and not pd.api.types.is_datetime64_any_dtype(df[c])
    ]
    df = df[sorted(keep)].copy()
    for column in df.columns:
        values = df[column]
        if pd.api.types.is_float_dtype(values):
            df[column] = values.round(FLOAT_DIGITS)
        elif values.dtype == object or pd.api.types.is_string_dtype(values):
            df[column] = values.astype(object).map(lambda v: _normalise(v, replace))
    df = df.astype(object)
    for column in df.columns:
        values = [None if _missing(v) else v for v in df[column]]
        df[column] = pd.Series(values, index=df.index, dtype=object)
    return df.sort_values(list(df.columns), key=lambda s: s.map(repr)).reset_index(drop=True)


# Run ids and random event ids inside text (a report folder per run, "promoted by run …").
_RUN_IDS = re.compile(
    r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b|\b[0-9a-f]{32}\b"
)


def _normalise(value, replace: dict[str, str] | None):
    if value is None:
        return None
    if isinstance(value, str):
        for old, new in (replace or {}).items():
            value = value.replace(old, new)
        return _RUN_IDS.sub("<id>", value)
    if isinstance(value, float):
        return None if value != value else round(value, FLOAT_DIGITS)
    return value


def _missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _drop_times(value):
    """JSON without the keys that record when (``trained_at`` …)."""
    if isinstance(value, dict):
        return {k: _drop_times(v) for k, v in value.items() if not k.endswith("_at")}
    if isinstance(value, list):
        return [_drop_times(v) for v in value]
    return value


def warehouse_snapshot(path: str | Path, replace: dict[str, str] | None = None) -> dict:
    """Every table and view of a DuckDB warehouse, volatile columns dropped, rows sorted."""
    out = {}
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema, table_name, table_type FROM information_schema.tables "
            "WHERE table_schema NOT IN ('information_schema', 'pg_catalog') "
            "ORDER BY table_schema, table_name"
        ).fetchall()
        for schema, name, _ in tables:
            columns = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                [schema, name],
            ).fetchall()
            wanted = [
                c for c, t in columns if not any(t.upper().startswith(x) for x in _TIME_TYPES)
            ]
            cols = ", ".join(f'"{c}"' for c in wanted)
            newest = ""
            if name in RUN_LOGS:
                order_by, covered = RUN_LOGS[name]
                cols = ", ".join(f'"{c}"' for c in covered)
                newest = f' ORDER BY "{order_by}" DESC LIMIT 1'
            df = con.execute(f'SELECT {cols} FROM "{schema}"."{name}"{newest}').df()
            key = name if schema == "main" else f"{schema}.{name}"
            out[key] = _stable(df, replace)
    return out


def table_snapshot(warehouse, spec) -> pd.DataFrame:
    """One table (a TableSpec) through the platform's Warehouse resource."""
    return _stable(warehouse.read_table(spec))


def _content_digest(name: str, data: bytes) -> str:
    if name.endswith(".parquet"):
        df = _stable(pd.read_parquet(io.BytesIO(data)))
        return "rows:" + hashlib.sha256(df.to_csv(index=False).encode()).hexdigest()[:16]
    if name.endswith(".json"):
        text = json.dumps(_drop_times(json.loads(data)), sort_keys=True)
        return "json:" + hashlib.sha256(text.encode()).hexdigest()[:16]
    return hashlib.sha256(data).hexdigest()[:16]


def blob_snapshot(store, containers: Iterable[str] | None = None) -> pd.DataFrame:
    """Every blob (container, name, size, content digest) of the store's containers."""
    if containers is None:
        containers = _containers(store)
    rows = []
    for container in sorted(containers):
        for info in store.list_blobs(container):
            data = store.read_bytes(container, info.name)
            rows.append(
                {
                    "container": container,
                    "name": _RUN_IDS.sub("<id>", info.name),
                    "size": len(data),
                    "digest": _content_digest(info.name, data),
                }
            )
    df = pd.DataFrame(rows, columns=["container", "name", "size", "digest"])
    # Per-run folders (review sheets under reports/dedup/<run id>/) are history by design: a
    # killed run may leave its own; compare which sheets exist, not how many runs wrote them.
    per_run = df.container.isin(PER_RUN_CONTAINERS)
    df = pd.concat([df[~per_run], df[per_run].drop_duplicates()])
    return df.sort_values(["container", "name", "digest"], ignore_index=True)


def _containers(store) -> list[str]:
    if hasattr(store, "root"):
        root = Path(store.root)
        return [p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return [c.name for c in store._service().list_containers()]


def snapshot(
    warehouse_path: str | Path,
    store,
    replace: dict[str, str] | None = None,
    containers: Iterable[str] | None = None,
) -> dict:
    """Every warehouse table plus the blob listing: what a run leaves behind."""
    out = warehouse_snapshot(warehouse_path, replace)
    out["blobs"] = blob_snapshot(store, containers)
    return out


def differences(clean: dict, faulted: dict) -> dict[str, dict[str, int]]:
    """Per table, rows the faulted run lost, duplicated or left stale (not in the clean run)."""
    report = {}
    for name in sorted(set(clean) | set(faulted)):
        if name not in faulted:
            report[name] = {"missing_table": 1, "lost": len(clean[name])}
            continue
        if name not in clean:
            report[name] = {"extra_table": 1, "stale": len(faulted[name])}
            continue
        a, b = clean[name], faulted[name]
        if list(a.columns) != list(b.columns):
            report[name] = {"columns_differ": 1}
            continue
        ca = Counter(map(tuple, a.astype(object).itertuples(index=False, name=None)))
        cb = Counter(map(tuple, b.astype(object).itertuples(index=False, name=None)))
        lost = sum((ca - cb)[row] for row in ca if row not in cb)
        stale = sum(cb[row] for row in cb if row not in ca)
        duplicated = sum(cb[row] - ca[row] for row in cb if row in ca and cb[row] > ca[row])
        short = sum(ca[row] - cb[row] for row in ca if row in cb and ca[row] > cb[row])
        if lost or stale or duplicated or short:
            report[name] = {
                "lost": lost + short,
                "duplicated": duplicated,
                "stale": stale,
            }
    return report


def assert_same(clean: dict, faulted: dict) -> None:
    """0 lost, 0 duplicated and 0 stale rows and blobs against the clean run."""
    report = differences(clean, faulted)
    if report:
        lines = []
        for name, counts in report.items():
            lines.append(f"{name}: {counts}")
            if name in clean and name in faulted and "columns_differ" not in counts:
                merged = clean[name].merge(faulted[name], how="outer", indicator=True)
                odd = merged[merged._merge != "both"].head(5)
                lines.append(odd.to_string(max_colwidth=60))
        raise AssertionError("the faulted run differs from the clean run:\n" + "\n".join(lines))


# --- Real runs in their own processes, killed at a chosen or random moment ---------------------

REPO = Path(__file__).resolve().parents[2]
LOCAL_INSTANCE = REPO / "platform" / "local" / "dagster.yaml"


@dataclass
class Kill:
    """What a SIGKILL interrupted: the run, the step under way, how far into it."""

    run_id: str | None
    step: str | None  # the step under way (started, not finished) in that run, if any
    seconds_into_step: float
    delay: float
    returncode: int | None
    interrupted: dict  # run id -> status of every run left unfinished by the kill
    slots_held: list  # run ids holding a warehouse-pool slot right after the kill


@dataclass
class Platform:
    """One embedded-default installation: IMAGE_PLATFORM_HOME with its DuckDB file, local blob
    store and a Dagster home with the local instance file (SQLite, the `warehouse` pool)."""

    home: Path
    source: Path
    extra_env: dict = field(default_factory=dict)
    instance_yaml: Path = LOCAL_INSTANCE

    def __post_init__(self) -> None:
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.instance_yaml, self.dagster_home / "dagster.yaml")

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def blob_store(self):
        from resources.blob_store import LocalBlobStore

        return LocalBlobStore(root=str(self.home / "blobs"))

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGE_PLATFORM_")}
        env.update(
            {
                "IMAGE_PLATFORM_ENV": "local",
                "IMAGE_PLATFORM_HOME": str(self.home),
                "IMAGE_PLATFORM_SOURCE": str(self.source),
                "IMAGE_PLATFORM_TIMEZONE": "UTC",
                "DAGSTER_HOME": str(self.dagster_home),
                **self.extra_env,
            }
        )
        return env

    def instance(self):
        from dagster._core.instance.ref import InstanceRef

        # The embedded instance finds its event log under $DAGSTER_HOME, as every process of
        # the platform has it set (resources/local_instance.py); the storages open here.
        saved = os.environ.get("DAGSTER_HOME")
        os.environ["DAGSTER_HOME"] = str(self.dagster_home)
        try:
            return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(self.dagster_home)))
        finally:
            if saved is None:
                del os.environ["DAGSTER_HOME"]
            else:
                os.environ["DAGSTER_HOME"] = saved

    def start(self, jobs: list[dict], release: bool = False) -> subprocess.Popen:
        plan = json.dumps({"jobs": jobs, "release": release})
        # The child writes to its own copy of the log's descriptor; ours closes at once.
        with open(self.home / "runner.log", "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "tests.support.runner", plan],
                cwd=REPO,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def run(self, jobs: list[dict], release: bool = False, timeout: float = 900) -> None:
        proc = self.start(jobs, release)
        try:
            code = proc.wait(timeout=timeout)
        finally:
            _kill_group(proc)
        if code != 0:
            tail = (self.home / "runner.log").read_text(errors="replace")[-4000:]
            raise AssertionError(f"runner exited {code}:\n{tail}")

    def run_killed(
        self,
        jobs: list[dict],
        job: str,
        steps: Iterable[str],
        rng: random.Random,
        max_delay: float,
        release: bool = False,
        timeout: float = 900,
        before_kill=None,
    ) -> Kill:
        """Run ``jobs``; once a run of ``job`` has started one of ``steps``, wait a random
        0..``max_delay`` seconds and SIGKILL the whole process group (run and step processes).
        """
        steps = set(steps)
        instance = self.instance()
        proc = self.start(jobs, release)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if proc.poll() is not None:
                    tail = (self.home / "runner.log").read_text(errors="replace")[-3000:]
                    raise AssertionError(f"the run ended before a step of {steps} began:\n{tail}")
                started = _started_step(instance, job, steps)
                if started is not None:
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"no step of {steps} started within {timeout}s")
                time.sleep(0.05)
            run_id, _, step_started = started
            delay = rng.uniform(0.0, max_delay)
            time.sleep(delay)
            if before_kill is not None:
                before_kill(run_id)
            with contextlib.suppress(ProcessLookupError):  # it may have just finished
                os.killpg(proc.pid, signal.SIGKILL)
            killed_at = time.time()
            code = proc.wait(timeout=60)
            step = _current_step(instance, run_id)
            interrupted = {
                r.dagster_run.run_id: r.dagster_run.status.value
                for r in instance.get_run_records(filters=dg.RunsFilter(statuses=_UNFINISHED))
            }
            held = pool_slots_held(instance)
            return Kill(run_id, step, killed_at - step_started, delay, code, interrupted, held)
        finally:
            _kill_group(proc)
            instance.dispose()


_UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def _started_step(instance, job: str, steps: set[str]):
    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name=job, statuses=[dg.DagsterRunStatus.STARTED]), limit=1
    )
    for record in records:
        for entry in instance.all_logs(
            record.dagster_run.run_id, of_type=dg.DagsterEventType.STEP_START
        ):
            if entry.step_key in steps:
                return record.dagster_run.run_id, entry.step_key, entry.timestamp
    return None


_STEP_ENDS = (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE)


def _current_step(instance, run_id: str) -> str | None:
    """The step under way at the kill: started, with no success or failure logged."""
    open_steps = []
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or not event.step_key:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            open_steps.append(event.step_key)
        elif event.event_type in _STEP_ENDS and event.step_key in open_steps:
            open_steps.remove(event.step_key)
    return open_steps[-1] if open_steps else None


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)


def pool_slots_held(instance, pool: str = "warehouse") -> list:
    """Run ids holding a slot of ``pool`` right now."""
    info = instance.event_log_storage.get_concurrency_info(pool)
    return [slot.run_id for slot in info.claimed_slots]


def seeded_rng(name: str) -> tuple[random.Random, int]:
    """A random source per test; FAULTS_SEED reproduces a run (the seed is in every message)."""
    seed = int(os.environ.get("FAULTS_SEED") or random.SystemRandom().randrange(2**31))
    return random.Random(f"{seed}-{name}"), seed


# --- An Azurite that can be stopped and restarted mid-run --------------------------------------


class Azurite:
    """A real Azurite blob service on a fixed loopback port and data folder, so it can be
    killed mid-run and restarted with what it had persisted."""

    def __init__(self, workdir: Path):
        self.binary = azurite_binary()
        self.port = free_port()
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}"

    def store(self, **fields):
        """A store on this Azurite whose SDK retries a refused connection within about 1.5 s
        (the production defaults wait about a minute): an outage test then measures the
        platform's own retries and backoff, not the SDK's waits."""
        from resources.blob_store import AzureBlobStore

        quick = {
            "retry_total": 2,
            "retry_initial_backoff_seconds": 0.2,
            "retry_increment_base_seconds": 1.0,
            "retry_jitter_seconds": 0.1,
        }
        return AzureBlobStore(account_url=self.url, account_key=AZURITE_KEY, **(quick | fields))

    def start(self, timeout: float = 60) -> "Azurite":
        # The child writes to its own copy of the log's descriptor; ours closes at once.
        with open(self.workdir / "azurite.log", "ab") as log:
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    "--blobHost",
                    "127.0.0.1",
                    "--blobPort",
                    str(self.port),
                    "--skipApiVersionCheck",
                    "--loose",
                    "--disableTelemetry",
                    "--location",
                    str(self.workdir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("Azurite did not start") from None
                time.sleep(0.1)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Stop the service (and npm's launcher): connections are refused until restart.

        SIGTERM stops it the way an operator or a restarting host does (it persists what it
        acknowledged); SIGKILL is a crash — the emulator then loses writes it had acknowledged
        (real Blob Storage never does), which only the next publish run can notice.
        """
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
