"""Warehouse writes are idempotent on DuckDB, and the Azure SQL statements are valid T-SQL."""

import subprocess
import sys
from datetime import UTC, datetime

import pandas as pd
import pytest
import sqlglot

from resources.warehouse.azure_sql_warehouse import AzureSqlWarehouse
from resources.warehouse.dialects import STAGED_TSQL, TSQL
from resources.warehouse.schema import Column, TableSpec
from resources.warehouse.sql import (
    TSQL_MAX_PARAMS,
    TSQL_MAX_ROWS_PER_INSERT,
    ddl,
    delete_keys_sql,
    delete_where_sql,
    head_sql,
    insert_all_sql,
    insert_new_sql,
    tsql_rows_per_insert,
    tsql_stage_batches,
)

SPEC = TableSpec(
    name="things",
    columns=(
        Column("id", "string", length=64),
        Column("day", "date"),
        Column("value", "float64"),
        Column("seen_at", "timestamp"),
        Column("ok", "bool"),
    ),
    primary_key=("id",),
    schema="analytics",
    indexes=(("day",),),
)


def _frame(ids, day="2026-01-01", value=1.0):
    return pd.DataFrame(
        {
            "id": ids,
            "day": pd.to_datetime(day).date(),
            "value": value,
            "seen_at": datetime(2026, 1, 1, tzinfo=UTC),
            "ok": True,
        }
    )


def test_insert_new_skips_keys_already_present_and_duplicates_within_the_batch(warehouse):
    assert warehouse.insert_new(SPEC, _frame(["a", "b", "b"])) == 2
    assert warehouse.insert_new(SPEC, _frame(["b", "c"])) == 1
    assert sorted(warehouse.read_table(SPEC).id) == ["a", "b", "c"]


def test_replace_where_replaces_exactly_one_partition(warehouse):
    warehouse.replace_where(SPEC, _frame(["a", "b"], "2026-01-01"), {"day": "2026-01-01"})
    warehouse.replace_where(SPEC, _frame(["c"], "2026-01-02"), {"day": "2026-01-02"})
    warehouse.replace_where(SPEC, _frame(["d"], "2026-01-01"), {"day": "2026-01-01"})
    assert sorted(warehouse.read_table(SPEC).id) == ["c", "d"]


def test_upsert_replaces_rows_by_primary_key(warehouse):
    warehouse.upsert(SPEC, _frame(["a", "b"], value=1.0))
    warehouse.upsert(SPEC, _frame(["b"], value=2.0))
    table = warehouse.read_table(SPEC).set_index("id")
    assert table.value.to_dict() == {"a": 1.0, "b": 2.0}


def test_a_failed_write_leaves_the_table_as_it_was(warehouse):
    warehouse.insert_new(SPEC, _frame(["a"]))
    bad = _frame(["z"]).drop(columns=["value"])
    with pytest.raises(ValueError, match="lacks columns"):
        warehouse.insert_new(SPEC, bad)
    assert list(warehouse.read_table(SPEC).id) == ["a"]


def _rows(n: int) -> list[tuple]:
    seen = datetime(2026, 1, 1, tzinfo=UTC)
    return [(f"id-{i}", "2026-01-01", float(i), seen, i % 2 == 0) for i in range(n)]


def _tsql_statements():
    azure = AzureSqlWarehouse(server="s", database="d")
    create_stage, insert_stage = azure.stage_sql(SPEC)
    return [
        *ddl(SPEC, TSQL),
        create_stage,
        insert_stage,
        *(sql for sql, _ in tsql_stage_batches(SPEC, STAGED_TSQL, _rows(3), rows_per_insert=2)),
        insert_new_sql(SPEC, "#staged__", TSQL),
        delete_where_sql(SPEC, ["day"], TSQL, "?"),
        delete_keys_sql(SPEC, "#staged__", TSQL),
        insert_all_sql(SPEC, "#staged__", TSQL),
    ]


@pytest.mark.parametrize("statement", _tsql_statements())
def test_generated_azure_sql_statements_parse_as_tsql(statement):
    parsed = sqlglot.parse(statement.replace("?", "@p"), read="tsql")
    assert parsed and all(p is not None for p in parsed)


def test_azure_sql_ddl_uses_bounded_key_columns_and_tsql_types():
    create = ddl(SPEC, TSQL)[1]
    assert "[id] NVARCHAR(64) NOT NULL" in create
    assert "DATETIMEOFFSET(6)" in create and "[ok] BIT" in create
    assert create.startswith("IF OBJECT_ID(N'analytics.things', N'U') IS NULL")


def test_azure_sql_connection_string_never_contains_unset_credentials():
    azure = AzureSqlWarehouse(server="srv", database="db", authentication="ActiveDirectoryMsi")
    conn = azure.connection_string()
    assert "PWD=" not in conn and "UID=" not in conn and "Encrypt=yes" in conn


def _values_rows(statement: str) -> int:
    insert = sqlglot.parse_one(statement.replace("?", "@p"), read="tsql")
    values = insert.find(sqlglot.exp.Values)
    assert values is not None
    return len(values.expressions)


@pytest.mark.parametrize("n_columns", [1, 5, 28, 100, 2100])
def test_rows_per_staging_insert_stay_within_tsql_row_and_parameter_limits(n_columns):
    per = tsql_rows_per_insert(n_columns)
    assert 1 <= per <= TSQL_MAX_ROWS_PER_INSERT
    assert per * n_columns <= TSQL_MAX_PARAMS
    # As large as the limits allow: one more row would break one of them.
    assert per == TSQL_MAX_ROWS_PER_INSERT or (per + 1) * n_columns > TSQL_MAX_PARAMS


def test_a_table_wider_than_the_parameter_limit_is_refused():
    with pytest.raises(ValueError, match="2100"):
        tsql_rows_per_insert(2101)


def test_staging_batches_cover_every_row_once_in_order_with_one_parameter_per_value():
    rows = _rows(1000)
    batches = list(tsql_stage_batches(SPEC, STAGED_TSQL, rows))
    per = tsql_rows_per_insert(len(SPEC.columns))  # 420 for five columns
    assert [len(params) // 5 for _, params in batches] == [per, per, 1000 - 2 * per]
    flat = [value for _, params in batches for value in params]
    assert flat == [value for row in rows for value in row]
    for sql, params in batches:
        assert sql.count("?") == len(params) <= TSQL_MAX_PARAMS
        assert _values_rows(sql) == len(params) // 5 <= TSQL_MAX_ROWS_PER_INSERT


def test_full_staging_batches_share_one_statement_text_so_the_driver_prepares_it_once():
    batches = list(tsql_stage_batches(SPEC, STAGED_TSQL, _rows(950), rows_per_insert=300))
    texts = [sql for sql, _ in batches]
    assert len(texts) == 4 and len(set(texts[:3])) == 1 and texts[3] != texts[0]
    assert _values_rows(texts[0]) == 300 and _values_rows(texts[3]) == 50


def test_staging_batches_parse_as_tsql_inserts_into_the_session_temp_table():
    for sql, _ in tsql_stage_batches(SPEC, STAGED_TSQL, _rows(7), rows_per_insert=3):
        parsed = sqlglot.parse_one(sql.replace("?", "@p"), read="tsql")
        assert isinstance(parsed, sqlglot.exp.Insert)
        assert parsed.this.this.sql("tsql") == "#staged__"
        assert [c.name for c in parsed.this.expressions] == SPEC.column_names


def test_a_row_with_the_wrong_number_of_values_is_refused_before_anything_is_sent():
    with pytest.raises(ValueError, match="expected 5"):
        list(tsql_stage_batches(SPEC, STAGED_TSQL, [("a", "2026-01-01", 1.0)]))


def test_no_rows_make_no_staging_statements():
    assert list(tsql_stage_batches(SPEC, STAGED_TSQL, [])) == []


def test_image_hashes_rows_stage_43_to_a_statement_because_of_the_parameter_limit():
    from assets.tables import IMAGE_HASHES

    n_cols = len(IMAGE_HASHES.columns)
    batches = list(tsql_stage_batches(IMAGE_HASHES, STAGED_TSQL, [(None,) * n_cols] * 200))
    # 48 columns (the content box and the probe hashes included): 2100 // 48 = 43 rows per
    # statement.
    assert n_cols == 48
    assert [len(params) // n_cols for _, params in batches] == [43, 43, 43, 43, 28]
    assert all(len(params) <= TSQL_MAX_PARAMS for _, params in batches)


def test_duckdb_writes_keep_timestamps_dates_and_booleans_through_the_arrow_path(warehouse):
    warehouse.insert_new(SPEC, _frame(["a", "b"]))
    table = warehouse.read_table(SPEC).sort_values("id")
    assert str(table.seen_at.iloc[0]) == "2026-01-01 00:00:00+00:00"
    assert table.ok.tolist() == [True, True] and table.value.tolist() == [1.0, 1.0]


def test_head_reads_the_first_rows_in_order_without_the_table(warehouse):
    warehouse.insert_new(SPEC, _frame([f"id{i:02d}" for i in range(25)]))
    head = warehouse.head(SPEC, ["id", "value"], order_by="id DESC", n=3)
    assert head.id.tolist() == ["id24", "id23", "id22"]
    assert list(head.columns) == ["id", "value"]
    empty = TableSpec(name="never_written", columns=SPEC.columns, primary_key=("id",))
    assert warehouse.head(empty, ["id"], order_by="id").empty


def test_head_on_azure_sql_is_a_top_query():
    sql = head_sql(SPEC, ["id", "value"], "seen_at DESC, id", 10, TSQL)
    parsed = sqlglot.parse_one(sql, read="tsql")
    assert isinstance(parsed, sqlglot.exp.Select)
    assert parsed.args["limit"].expression.this == "10"
    assert parsed.args["order"] is not None
    assert sql.startswith("SELECT TOP (10) ") and "LIMIT" not in sql


def test_a_table_written_before_a_column_was_added_gets_it_on_the_next_write(warehouse):
    from dataclasses import replace

    grown = replace(
        SPEC,
        columns=(*SPEC.columns, Column("note", "string")),
        added_columns=("note",),
    )
    warehouse.insert_new(SPEC, _frame(["a"]))
    assert warehouse.insert_new(grown, _frame(["b"]).assign(note="new")) == 1
    table = warehouse.read_table(grown).sort_values("id")
    assert list(table.id) == ["a", "b"]
    assert pd.isna(table.note.iloc[0]) and table.note.iloc[1] == "new"


def test_image_hashes_ddl_adds_the_content_box_and_probe_columns_in_valid_tsql():
    from assets.tables import IMAGE_HASHES

    added = [s for s in ddl(IMAGE_HASHES, TSQL) if "COL_LENGTH" in s]
    # the content box (8 columns) and the probe hashes (6 x row, col)
    assert len(added) == len(IMAGE_HASHES.added_columns) == 20
    for statement in added:
        assert sqlglot.parse(statement, read="tsql")


def _opens_the_file_for_writing(path: str) -> bool:
    """Whether another process can open the DuckDB file for writing right now."""
    probe = subprocess.run(
        [sys.executable, "-c", f"import duckdb; duckdb.connect({path!r}).close()"],
        capture_output=True,
    )
    return probe.returncode == 0


def test_a_session_runs_its_operations_on_one_connection_and_releases_the_file_after(
    warehouse,
):
    opened = []
    original = type(warehouse)._open

    class Counting(type(warehouse)):  # the real DuckDB warehouse, counting its connections
        def _open(self, read_only):
            opened.append(read_only)
            return original(self, read_only)

    counted = Counting(path=warehouse.path)
    with counted.session():
        counted.ensure_table(SPEC)
        counted.upsert(SPEC, _frame(["a", "b"]))
        assert counted.table_exists(SPEC)
        assert sorted(counted.read_table(SPEC).id) == ["a", "b"]
        assert not _opens_the_file_for_writing(warehouse.path)  # held: no dbt inside a session
    assert opened == [False]
    assert _opens_the_file_for_writing(warehouse.path)
    counted.upsert(SPEC, _frame(["c"]))  # outside a session: a connection per operation again
    assert sorted(counted.read_table(SPEC).id) == ["a", "b", "c"] and len(opened) >= 3


def test_a_session_creates_each_table_once_and_again_after_a_drop(warehouse):
    """Inside a session a batch loop's writes skip the table's CREATE/ALTER ... IF NOT EXISTS
    after the first; a table dropped in the session is created again by the next write."""
    statements: list[str] = []
    original = type(warehouse)._open

    class Recording:  # the real DuckDB connection, remembering what it was asked to run
        def __init__(self, con):
            self._con = con

        def execute(self, sql, *args):
            statements.append(sql)
            return self._con.execute(sql, *args)

        def __getattr__(self, name):
            return getattr(self._con, name)

    class Counting(type(warehouse)):
        def _open(self, read_only):
            return Recording(original(self, read_only))

    counted = Counting(path=warehouse.path)
    creates = f"CREATE TABLE IF NOT EXISTS {SPEC.qualified('duckdb')}"
    with counted.session():
        for i in range(3):
            counted.insert_new(SPEC, _frame([f"k{i}"]))
        assert sum(s.startswith(creates) for s in statements) == 1
        counted.execute(f"DROP TABLE {SPEC.qualified('duckdb')}")
        assert counted.insert_new(SPEC, _frame(["again"])) == 1
        assert sum(s.startswith(creates) for s in statements) == 2
    assert list(warehouse.read_table(SPEC).id) == ["again"]
    counted.insert_new(SPEC, _frame(["outside"]))  # outside a session: checked every write
    assert sum(s.startswith(creates) for s in statements) == 3


def test_arrow_rows_stage_as_they_are_and_land_like_a_frame(warehouse):
    import pyarrow as pa

    frame = _frame(["a", "b"])
    arrow = pa.Table.from_pandas(frame[SPEC.column_names], preserve_index=False)
    other = TableSpec(name="things_from_arrow", columns=SPEC.columns, primary_key=("id",))
    assert warehouse.insert_new(SPEC, frame) == warehouse.insert_new(other, arrow) == 2
    pd.testing.assert_frame_equal(
        warehouse.read_table(SPEC).sort_values("id").reset_index(drop=True),
        warehouse.read_table(other).sort_values("id").reset_index(drop=True),
    )
    with pytest.raises(ValueError, match="expected"):
        warehouse.insert_new(other, arrow.select(["day", "id", "value", "seen_at", "ok"]))


def test_azure_sql_stages_arrow_rows_as_the_same_tuples_as_a_frame():
    """Azure SQL cannot run here: the rows it would send for Arrow rows equal a frame's."""
    import pyarrow as pa

    from resources.warehouse.azure_sql_warehouse import _row_tuples
    from resources.warehouse.base import _python_value

    frame = _frame(["a", "b"], value=2.5)
    arrow = pa.Table.from_pandas(frame[SPEC.column_names], preserve_index=False)

    def sent(rows):
        return [tuple(_python_value(v) for v in row) for row in _row_tuples(SPEC, rows)]

    assert sent(arrow) == sent(frame)
    assert sent(arrow)[0] == ("a", frame.day[0], 2.5, datetime(2026, 1, 1, tzinfo=UTC), True)
    with pytest.raises(ValueError, match="expected"):
        sent(arrow.select(["day", "id", "value", "seen_at", "ok"]))
