"""A night's two tables are replaced together or not at all (DuckDB and the T-SQL it would run)."""

from datetime import date

import pandas as pd
import pytest

from assets.tables import IMAGE_PREDICTIONS, IMAGE_PROBABILITIES

DAY = date(2026, 3, 14)


def _predictions(blobs, version="v1"):
    return pd.DataFrame(
        {
            "partition_date": DAY,
            "blob_path": blobs,
            "image_id": [f"id-{b}" for b in blobs],
            "predicted_label": "cat",
            "probability": 0.9,
            "model_version": version,
            "reused": False,
            "last_modified": pd.Timestamp("2026-03-14T12:00Z"),
            "classified_at": pd.Timestamp("2026-03-15T23:00Z"),
        }
    )


def _probabilities(blobs, version="v1"):
    return pd.DataFrame(
        {
            "partition_date": DAY,
            "image_id": [f"id-{b}" for b in blobs for _ in range(2)],
            "label": ["cat", "dog"] * len(blobs),
            "probability": [0.9, 0.1] * len(blobs),
            "model_version": version,
        }
    )


def test_a_failure_in_the_second_table_leaves_the_first_one_as_it_was(warehouse):
    warehouse.replace_partition(
        [
            (IMAGE_PREDICTIONS, _predictions(["a", "b"])),
            (IMAGE_PROBABILITIES, _probabilities(["a", "b"])),
        ],
        {"partition_date": DAY},
    )
    before = warehouse.read_table(IMAGE_PREDICTIONS)
    # The second part breaks its primary key: the whole replacement must roll back.
    broken = pd.concat([_probabilities(["c"], "v2")] * 2)
    with pytest.raises(Exception, match=r"(?i)constraint|duplicate"):
        warehouse.replace_partition(
            [(IMAGE_PREDICTIONS, _predictions(["c"], "v2")), (IMAGE_PROBABILITIES, broken)],
            {"partition_date": DAY},
        )
    pd.testing.assert_frame_equal(warehouse.read_table(IMAGE_PREDICTIONS), before)
    assert set(warehouse.read_table(IMAGE_PROBABILITIES).model_version) == {"v1"}


def test_both_tables_are_replaced_by_one_call(warehouse):
    where = {"partition_date": DAY}
    first = [
        (IMAGE_PREDICTIONS, _predictions(["a", "b"])),
        (IMAGE_PROBABILITIES, _probabilities(["a", "b"])),
    ]
    assert warehouse.replace_partition(first, where) == [2, 4]
    second = [
        (IMAGE_PREDICTIONS, _predictions(["c"], "v2")),
        (IMAGE_PROBABILITIES, _probabilities(["c"], "v2")),
    ]
    warehouse.replace_partition(second, where)
    assert list(warehouse.read_table(IMAGE_PREDICTIONS).blob_path) == ["c"]
    assert set(warehouse.read_table(IMAGE_PROBABILITIES).model_version) == {"v2"}


class _Recorder:
    """Stands in for the driver's connection (Azure SQL cannot run here): records what the
    warehouse sends, commits and rolls back; fails on a chosen statement."""

    def __init__(self, fail_on: str | None = None):
        self.statements: list[str] = []
        self.events: list[str] = []
        self.fail_on = fail_on
        self.rowcount = 1
        self.description: list[tuple] | None = None
        self._rows: list[tuple] = []

    def cursor(self):
        return self

    def execute(self, sql, params=None):
        self.statements.append(sql)
        if self.fail_on and self.fail_on in sql:
            raise RuntimeError("simulated failure")
        # A fresh database: the look-up before the first write (OBJECT_ID) finds no table.
        self.description, self._rows = (
            ([("oid",)], [(None,)]) if sql.startswith("SELECT OBJECT_ID") else (None, [])
        )

    def fetchall(self):
        return self._rows

    def commit(self):
        self.events.append("commit")

    def rollback(self):
        self.events.append("rollback")

    def close(self):
        self.events.append("close")


def _azure(recorder):
    from contextlib import contextmanager

    from resources.warehouse.azure_sql_warehouse import AzureSqlWarehouse

    class Recorded(AzureSqlWarehouse):
        @contextmanager
        def connect(self):
            yield recorder

    return Recorded(server="example.database.windows.net", database="db")


def test_azure_sql_replaces_both_tables_on_one_connection_with_one_commit():
    import sqlglot

    recorder = _Recorder()
    _azure(recorder).replace_partition(
        [(IMAGE_PREDICTIONS, _predictions(["a"])), (IMAGE_PROBABILITIES, _probabilities(["a"]))],
        {"partition_date": DAY},
    )
    assert recorder.events == ["commit"]
    moves = [
        s
        for s in recorder.statements
        if s.startswith(("DELETE", "INSERT INTO [dbo]", "INSERT INTO [image"))
    ]
    assert [m.split()[0] + " " + m.split()[2] for m in moves] == [
        "DELETE [image_predictions]",
        "INSERT [image_predictions]",
        "DELETE [image_probabilities]",
        "INSERT [image_probabilities]",
    ]
    for statement in recorder.statements:
        assert sqlglot.parse(statement.replace("?", "@p"), read="tsql")


def test_azure_sql_rolls_back_both_tables_when_the_second_fails():
    recorder = _Recorder(fail_on="DELETE FROM [image_probabilities]")
    with pytest.raises(RuntimeError):
        _azure(recorder).replace_partition(
            [
                (IMAGE_PREDICTIONS, _predictions(["a"])),
                (IMAGE_PROBABILITIES, _probabilities(["a"])),
            ],
            {"partition_date": DAY},
        )
    assert recorder.events == ["rollback"]
    assert any(s.startswith("DELETE FROM [image_predictions]") for s in recorder.statements)
