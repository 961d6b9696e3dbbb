"""Warehouse writes are idempotent on DuckDB, and the Azure SQL statements are valid T-SQL."""

from datetime import UTC, datetime

import pandas as pd
import pytest
import sqlglot

from resources.warehouse import (
    TSQL,
    AzureSqlWarehouse,
    Column,
    TableSpec,
    ddl,
    delete_keys_sql,
    delete_where_sql,
    insert_all_sql,
    insert_new_sql,
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


def _tsql_statements():
    azure = AzureSqlWarehouse(server="s", database="d")
    create_stage, insert_stage = azure.stage_sql(SPEC)
    return [
        *ddl(SPEC, TSQL),
        create_stage,
        insert_stage,
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
