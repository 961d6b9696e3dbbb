"""The embedded default's Dagster instance: SQLite storage that commits without waiting for the
disk.

Dagster's SQLite storage opens a connection per event and commits it with SQLite's default
durability: every commit waits for the disk (fsync), and closing the connection checkpoints its
write-ahead log, which waits again. A one-image sensor run records about 270 events (each dbt
test is an asset check: planned, output, evaluation), and on this project's machine each waited
tens of milliseconds whenever other work was writing to the disk (``benchmarks/README.md``).

``platform/local/dagster.yaml`` names ``LocalSqliteEventLogStorage`` as the event log. Loading it
sets ``PRAGMA synchronous=OFF`` on every SQLite connection the process opens (the instance's event
log, runs and schedules: the only SQLite the platform's processes use). SQLite then hands each
write to the operating system and goes on: a killed process, run or ``dagster dev`` loses
nothing, and only a crash of the machine itself can lose the last events or damage the instance's
history. That is the embedded default's trade: its data lives in the warehouse, which this does
not touch, and the production instance keeps every event on PostgreSQL
(``platform/dagster.yaml``).
"""

import os
import sqlite3
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._serdes import ConfigurableClassData
from sqlalchemy import event
from sqlalchemy.engine import Engine

_SYNCHRONOUS = "OFF"


@event.listens_for(Engine, "connect")
def _commit_without_fsync(dbapi_connection: Any, _connection_record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute(f"PRAGMA synchronous={_SYNCHRONOUS}")


class LocalSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log (one database per run plus an index) under
    ``$DAGSTER_HOME/history/runs`` unless ``base_dir`` says otherwise, where the default storage
    keeps it; its module makes the process's SQLite commits skip the disk wait (see above)."""

    def __init__(self, base_dir: str | None = None, inst_data: ConfigurableClassData | None = None):
        if base_dir is None:
            home = os.environ.get("DAGSTER_HOME")
            if not home:
                raise dg.DagsterInvariantViolationError(
                    "LocalSqliteEventLogStorage keeps the event log under $DAGSTER_HOME/history/"
                    "runs: set DAGSTER_HOME (make dev and make demo do) or give it base_dir"
                )
            base_dir = os.path.join(home, "history", "runs")
        super().__init__(base_dir, inst_data)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"base_dir": dg.Field(dg.StringSource, is_required=False)}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> "LocalSqliteEventLogStorage":
        return cls(inst_data=inst_data, base_dir=config_value.get("base_dir"))
