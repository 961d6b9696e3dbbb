"""How Dagster finds and runs the dbt project in ``dbt/`` (the dedup tables).

The warehouse location is resolved once, by ``resources.environment``, and handed to dbt:

* DuckDB (local, ci): ``dbt/profiles.yml`` reads ``env_var('IMAGE_PLATFORM_DUCKDB_PATH')``, for
  dbt run by hand. Dagster resolves ``Settings.duckdb_path`` (that variable, or
  ``<home>/warehouse.duckdb``) and writes a copy of that profile with the absolute path in it,
  one per warehouse under ``<home>/dbt/profiles/``, which it hands to dbt as its profiles folder
  (dagster-dbt's ``profiles_dir``), so dbt writes exactly the file the Python assets write.
* Azure SQL (prod): dbt reads the project's own profile, with the same ``IMAGE_PLATFORM_SQL_*``
  variables as the warehouse; the password as ``DBT_ENV_SECRET_SQL_PASSWORD``, a name dbt scrubs
  from its logs and artifacts, set by the deployment beside ``IMAGE_PLATFORM_SQL_PASSWORD``.

Nothing here writes to ``os.environ``. dagster-dbt 0.29 starts dbt with a copy of the process
environment and takes no extra variables (its maintainers point to changing ``os.environ``
around the call), but that environment is shared by every thread of the process: sensor ticks,
the in-process executor, other dbt invocations. What dbt needs beyond it arrives as files and
flags instead: the profiles folder above, ``indirect_selection`` in ``dbt_project.yml``'s
``flags:`` (dagster-dbt's own ``DBT_INDIRECT_SELECTION``, set for subsets of checks, still wins),
and the dbt executable by its absolute path.

The manifest (``dbt/target/manifest.json``), which Dagster reads to build the asset graph, is a
cache of ``dbt parse``: it is parsed on load only when it is missing, older than any file of the
project, or was parsed for another adapter, and reused otherwise — under ``dagster dev`` too.
dagster-dbt's own ``prepare_if_dev`` re-parses on every load under ``dagster dev``, and every
process started there (each run worker, each step) sees the variable that says so: a few seconds
of ``dbt parse`` per process for a manifest that has not changed. A model edited while
``dagster dev`` runs is newer than the manifest, so the next load (reload the code location)
still parses it. A deployment that parses at build time never parses at run time.

The dbt assets are built from that manifest with every node selected. dagster-dbt evaluates even
this default selection (``fqn:*``) with dbt-core's graph library (``dbt.graph``, networkx) when
dbt-core is installed: about a second of imports in every process that loads the code location,
a tenth of the code location's start-up, to learn that every node is selected.
``default_selection_from_manifest`` answers that one selection from the manifest's own node list
(what dagster-dbt itself does when dbt-core is absent); any other selection still goes to dbt.
"""

import functools
import hashlib
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
import dagster_dbt.asset_utils
import yaml
from dagster._utils import run_with_concurrent_update_guard
from dagster_dbt import DbtCliInvocation, DbtCliResource, DbtProject
from dagster_dbt.compat import DBT_PYTHON_VERSION
from dagster_dbt.dbt_manifest import read_manifest_path
from pydantic import Field, PrivateAttr

from resources.environment import Environment, Settings, get_settings
from resources.warm_dbt import WarmDbt, write_launcher

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt"
DUCKDB_TARGET = "duckdb"
SQLSERVER_TARGET = "sqlserver"
DUCKDB_PATH_ENV = "IMAGE_PLATFORM_DUCKDB_PATH"
PROFILE_NAME = "image_platform"
PROFILES_FILE = "profiles.yml"
SQL_PASSWORD_ENV = "IMAGE_PLATFORM_SQL_PASSWORD"
DBT_SECRET_PASSWORD_ENV = "DBT_ENV_SECRET_SQL_PASSWORD"
# Flags of the dedup step's `dbt build` (and of benchmarks/bench_dedup_dense.py, which times it).
# dbt's debug-level log file (every statement of every node) goes to the invocation's target
# folder, which is removed once the step has read its artifacts: the step's own log and events
# carry what dbt reports. Writing it cost about 0.4 s of a one-image batch's build.
BUILD_FLAGS = ("--log-level-file", "none")
# Which tests run with a subset of models (dbt_project.yml, flags: indirect_selection).
INDIRECT_SELECTION = "buildable"
# Per-invocation target folders (dagster-dbt: <op>-<run id[:7]>-<random[:7]>) of runs that ended
# without removing their own (killed, crashed) are pruned once older than this.
STALE_TARGET_SECONDS = 6 * 3600

# Files whose change makes a parsed manifest stale.
_PROJECT_SOURCES = ("dbt_project.yml", "models", "macros", "tests")

_selection_lock = threading.Lock()


_DEFAULT_SELECTION = ("", "fqn:*")


def _select_unique_ids(select, exclude, selector, project, manifest_json):
    if select in _DEFAULT_SELECTION and not exclude and not selector:
        return set(manifest_json["nodes"])
    return _DBT_SELECTION(
        select=select,
        exclude=exclude,
        selector=selector,
        project=project,
        manifest_json=manifest_json,
    )


_DBT_SELECTION = dagster_dbt.asset_utils.select_unique_ids


@contextmanager
def default_selection_from_manifest() -> Iterator[None]:
    """While ``@dbt_assets`` builds its specs, the default selection (every node) is read from the
    manifest instead of being evaluated by dbt-core's graph library (see the module docstring).

    Only the decorator's own call is affected: dagster-dbt's function is restored on exit.
    """
    with _selection_lock:  # two threads building dbt assets at once see one consistent state
        dagster_dbt.asset_utils.select_unique_ids = _select_unique_ids
        try:
            yield
        finally:
            dagster_dbt.asset_utils.select_unique_ids = _DBT_SELECTION


def dbt_target(settings: Settings) -> str:
    return SQLSERVER_TARGET if settings.env == Environment.PROD else DUCKDB_TARGET


def dbt_executable() -> str:
    """The dbt installed beside this interpreter (the project's environment), else dbt on PATH.

    Dagster processes are often started without the virtualenv on PATH.
    """
    here = shutil.which("dbt", path=str(Path(sys.executable).parent))
    return here or shutil.which("dbt") or "dbt"


def resolved_duckdb_path(settings: Settings) -> str | None:
    """The absolute path of the warehouse file dbt writes (DuckDB targets), else None."""
    if dbt_target(settings) == DUCKDB_TARGET:
        return str(settings.duckdb_path.expanduser().resolve())
    return None


def _jinja_literal(text: str) -> str:
    # dbt renders every profile value as Jinja: a path holding "{{" or "{%" stays literal.
    return f"{{% raw %}}{text}{{% endraw %}}"


def warehouse_profiles_dir(
    root: Path, duckdb_path: str, project_dir: Path = DBT_PROJECT_DIR
) -> Path:
    """A profiles folder for one DuckDB warehouse: the project's profile with the file's
    absolute path written in, instead of read from ``IMAGE_PLATFORM_DUCKDB_PATH``.

    Written only when missing or different (a concurrent writer replaces it atomically with the
    same text), under ``<root>/profiles/<key>/``, one folder per warehouse path.
    """
    profiles = yaml.safe_load((project_dir / PROFILES_FILE).read_text(encoding="utf-8"))
    profiles[PROFILE_NAME]["outputs"][DUCKDB_TARGET]["path"] = _jinja_literal(duckdb_path)
    text = (
        f"# Written by image-platform from {project_dir / PROFILES_FILE} for the warehouse\n"
        f"# {duckdb_path}; edit that file instead.\n" + yaml.safe_dump(profiles, sort_keys=False)
    )
    key = hashlib.sha256(duckdb_path.encode()).hexdigest()[:16]
    folder = root / "profiles" / key
    path = folder / PROFILES_FILE
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        folder.mkdir(parents=True, exist_ok=True)
        staged = path.with_name(f"{PROFILES_FILE}.{os.getpid()}.{threading.get_ident()}.tmp")
        staged.write_text(text, encoding="utf-8")
        os.replace(staged, path)
    return folder


PARTIAL_PARSE_FILE = "partial_parse.msgpack"


class WarehouseDbtCliResource(DbtCliResource):
    """The dbt CLI, pointed at the environment's warehouse.

    DuckDB targets run with ``profiles_dir`` set to a profile holding ``duckdb_path`` (see
    ``warehouse_profiles_dir``); nothing is exported into the process environment.

    Two costs of a small batch's ``dbt build`` are avoided (see ``benchmarks/README.md``):

    * dbt's partial parse is kept per warehouse in ``parse_state_dir``. dbt re-parses the whole
      project when the profile's connection differs from the one its saved state was parsed
      with, and the project's ``target/partial_parse.msgpack`` (which dagster-dbt copies into
      every invocation) is shared by every warehouse that uses this checkout: each home, each
      test, each ``IMAGE_PLATFORM_DUCKDB_PATH``. Each invocation starts from the state its own
      warehouse's last build left (``keep_parse_state``).
    * dagster-dbt builds a dbt adapter in the step's own process before starting dbt, only to
      read column metadata and row counts, which these assets do not ask for: dbt-core's config,
      adapter and macros loaded once more in the step (six seconds at a load average of 7).
      ``column_metadata`` turns it back on.
    * dagster-dbt runs ``dbt --version`` once per resource (each run) to tell dbt-core from
      Fusion: a whole dbt start-up, ten seconds at a load average of 12. The dbt beside this
      interpreter is the dbt-core installed here, whose version Python already knows.
    * With ``warm_start``, each run starts dbt once, when its resources are initialised, and
      every dbt command of the run is served by that already-imported dbt
      (``resources/warm_dbt.py``): about three seconds of imports per command, overlapped with
      the steps before dbt, and half a second of interpreter teardown at its end.
    """

    duckdb_path: str | None = Field(
        default=None,
        description="Absolute path of the warehouse DuckDB file (duckdb target only).",
    )
    parse_state_dir: str | None = Field(
        default=None,
        description=(
            "Folder that keeps dbt's partial-parse state of this warehouse between invocations "
            "(none: dbt starts from the project's own target folder)."
        ),
    )
    warm_start: bool = Field(
        default=False,
        description=(
            "Start dbt once per run, while the run's first steps work, and serve the run's dbt "
            "commands from it (dbt_executable is then the warm-dbt launcher, which starts the "
            "real dbt itself when no warm dbt is running)."
        ),
    )
    column_metadata: bool = Field(
        default=False,
        description=(
            "Build dagster-dbt's in-process dbt adapter, needed only to fetch column metadata or "
            "row counts from the warehouse (fetch_column_metadata / fetch_row_counts)."
        ),
    )

    def __init__(
        self,
        project_dir: Any,
        *,
        duckdb_path: str | None = None,
        profiles_dir: str | Path | None = None,
        parse_state_dir: str | None = None,
        **kwargs: Any,
    ):
        # A DuckDB warehouse gets its own profile (see warehouse_profiles_dir), beside its parse
        # state, or in the project's target folder when it keeps none.
        if duckdb_path and not profiles_dir:
            project = Path(
                project_dir.project_dir if isinstance(project_dir, DbtProject) else project_dir
            )
            root = Path(parse_state_dir) if parse_state_dir else project / "target"
            profiles_dir = str(warehouse_profiles_dir(root, duckdb_path, project))
        super().__init__(
            project_dir=project_dir,
            duckdb_path=duckdb_path,
            profiles_dir=profiles_dir,
            parse_state_dir=parse_state_dir,
            **kwargs,
        )

    _warm: WarmDbt | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        super().setup_for_execution(context)
        if self.warm_start:
            self._warm = WarmDbt.start(adapter=self._adapter_type())

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._warm is not None:
            self._warm.stop()
            self._warm = None
        super().teardown_after_execution(context)

    def _adapter_type(self) -> str | None:
        return "duckdb" if self.target == DUCKDB_TARGET else None

    def check_secret_environment(self) -> None:
        """Fail clearly when the Azure SQL password is set only under the warehouse's name.

        dbt reads it as ``DBT_ENV_SECRET_SQL_PASSWORD`` (a name it scrubs from logs), from the
        process environment as started: the deployment sets both names from one secret.
        """
        if self.target != SQLSERVER_TARGET:
            return
        if os.environ.get(SQL_PASSWORD_ENV) and not os.environ.get(DBT_SECRET_PASSWORD_ENV):
            raise dg.Failure(
                f"{SQL_PASSWORD_ENV} is set but {DBT_SECRET_PASSWORD_ENV} is not: dbt reads the "
                "Azure SQL password only under the second name, which it scrubs from its logs; "
                "set it from the same secret (see platform/README.md)."
            )

    @cached_property
    def _cli_version(self) -> Any:
        here = Path(sys.executable).parent
        # The warm-dbt launcher runs the dbt beside this interpreter.
        ours = self.warm_start or Path(self.dbt_executable).parent == here
        if DBT_PYTHON_VERSION is not None and ours:
            return DBT_PYTHON_VERSION
        # Another dbt: ask it (dagster-dbt types its cached_property as a plain callable).
        return DbtCliResource._cli_version.func(self)  # type: ignore[attr-defined]

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        if self.column_metadata:
            return super()._initialize_dbt_core_adapter(args)
        return None  # dagster-dbt then runs dbt without an in-process adapter

    def _parse_state_file(self, args: Sequence[str]) -> Path | None:
        if not self.parse_state_dir:
            return None
        # dbt's own invalidation still applies (project files, connection, variables); the key
        # keeps apart the states of different connections that may share one folder, and of
        # different variables (a full and an incremental refresh each find their own state).
        key = hashlib.sha256(
            f"{self.target}|{self.duckdb_path}|{_vars_argument(args)}".encode()
        ).hexdigest()[:16]
        return Path(self.parse_state_dir) / f"{key}-{PARTIAL_PARSE_FILE}"

    def cli(
        self,
        args: Sequence[str],
        *,
        target_path: Path | None = None,
        context: Any = None,
        **kwargs: Any,
    ) -> DbtCliInvocation:
        state = self._parse_state_file(args)
        if state is not None and state.is_file():
            target_path = target_path or self._get_unique_target_path(context=context)
            folder = Path(self.project_dir, target_path)  # as dagster-dbt resolves it
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(state, folder / PARTIAL_PARSE_FILE)
        self.check_secret_environment()
        return super().cli(args, target_path=target_path, context=context, **kwargs)

    def keep_parse_state(self, invocation: DbtCliInvocation) -> bool:
        """Keep the partial-parse state a finished invocation wrote, for this warehouse's next
        one with the same variables. Call it for the refreshes' own variables only, not for a
        run's one-off overrides (each would leave a state no later run uses)."""
        args = invocation.process.args  # dagster-dbt starts dbt with a list of arguments
        state = self._parse_state_file(
            [str(a) for a in args] if isinstance(args, list | tuple) else []
        )
        written = Path(invocation.target_path) / PARTIAL_PARSE_FILE
        if state is None or not written.is_file():
            return False
        state.parent.mkdir(parents=True, exist_ok=True)
        staged = state.with_name(f"{state.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        shutil.copyfile(written, staged)
        os.replace(staged, state)  # a concurrent reader sees the old file or the new one
        return True


def _vars_argument(args: Sequence[str]) -> str:
    """The value after ``--vars`` in a dbt command line ("" without one)."""
    args = list(args)
    for i, arg in enumerate(args[:-1]):
        if arg == "--vars":
            return args[i + 1]
    return ""


_INVOCATION_TARGET = re.compile(r"^.+-[0-9a-f]{7}-[0-9a-f]{7}$")


def remove_invocation_target(path: Path) -> None:
    """Remove one finished invocation's target folder (its artifacts were read already)."""
    shutil.rmtree(path, ignore_errors=True)


def prune_invocation_targets(target_dir: Path, older_than_s: float = STALE_TARGET_SECONDS) -> int:
    """Remove per-invocation target folders left by runs that ended without cleaning up (a kill,
    a crash), once they are older than ``older_than_s``; the project's own manifest and partial
    parse file stay. Returns how many were removed."""
    if not target_dir.is_dir():
        return 0
    cutoff = time.time() - older_than_s
    removed = 0
    for path in target_dir.iterdir():
        if path.is_dir() and _INVOCATION_TARGET.match(path.name):
            if path.stat().st_mtime < cutoff:
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
    return removed


def build_dbt_project(settings: Settings) -> DbtProject:
    return DbtProject(project_dir=DBT_PROJECT_DIR, target=dbt_target(settings))


def build_dbt_resource(settings: Settings, project: DbtProject) -> WarehouseDbtCliResource:
    """The dbt resource of the code location. DuckDB targets (the embedded default, CI) run dbt
    warm (``WarehouseDbtCliResource.warm_start``); Azure SQL runs the real dbt per command."""
    warm = dbt_target(settings) == DUCKDB_TARGET
    executable = dbt_executable()
    if warm:
        executable = str(write_launcher(settings.home / "dbt" / "bin", executable))
    return WarehouseDbtCliResource(
        project_dir=project,
        target=dbt_target(settings),
        dbt_executable=executable,
        duckdb_path=resolved_duckdb_path(settings),
        parse_state_dir=str(settings.home / "dbt"),
        warm_start=warm,
    )


def dbt_vars(project_dir: Path = DBT_PROJECT_DIR) -> dict[str, Any]:
    """The project's variables and their defaults (``vars:`` in dbt_project.yml)."""
    with open(project_dir / "dbt_project.yml", encoding="utf-8") as file:
        return dict(yaml.safe_load(file).get("vars") or {})


def _newest_source_mtime(project_dir: Path) -> float:
    newest = 0.0
    for name in _PROJECT_SOURCES:
        path = project_dir / name
        files = [path] if path.is_file() else path.rglob("*") if path.is_dir() else []
        for file in files:
            if file.is_file():
                newest = max(newest, file.stat().st_mtime)
    return newest


def manifest_is_stale(project: DbtProject) -> bool:
    """True when the manifest is missing, older than a project file, or for another adapter."""
    manifest = project.manifest_path
    if not manifest.is_file():
        return True
    if manifest.stat().st_mtime < _newest_source_mtime(project.project_dir):
        return True
    try:
        # dagster-dbt's cached reader: @dbt_assets reads the same parsed manifest, not a second one.
        adapter = read_manifest_path(manifest.resolve()).get("metadata", {}).get("adapter_type")
    except (OSError, ValueError):
        return True
    return adapter != project.target


def _parse_project(project: DbtProject, settings: Settings) -> None:
    # dagster-dbt's own preparer runs the dbt found on the PATH of os.environ with the project's
    # profile as it stands: this warehouse's resource runs this environment's dbt and profile.
    build_dbt_resource(settings, project).cli(
        ["parse", "--quiet"], target_path=project.target_path
    ).wait()


def prepare_manifest(project: DbtProject, settings: Settings) -> Path:
    """Make ``project.manifest_path`` exist and be current (see the module docstring)."""
    if manifest_is_stale(project):
        # dagster-dbt's guard: one process parses, the others waiting on it reuse its manifest.
        run_with_concurrent_update_guard(
            project.manifest_path, _parse_project, project=project, settings=settings
        )
        read_manifest_path.cache_clear()  # it may hold the stale manifest read by the check
    return project.manifest_path


@functools.cache
def dedup_project() -> DbtProject:
    """The dbt project of this process, built once when the dedup assets are defined.

    ``@dbt_assets`` needs the manifest while the code location is imported, before any resource
    exists: the target (the environment switch) and the warehouse a stale manifest is parsed
    with are the settings read here, the one place the dedup stage reads the environment. The
    manifest is parsed only when stale (``prepare_manifest``); the dbt resource that runs the
    models is built with the code location's other resources.
    """
    settings = get_settings()
    project = build_dbt_project(settings)
    prepare_manifest(project, settings)
    return project
