"""Key lengths work on Azure SQL: every table's clustered primary key fits in 900 bytes and
every index in 1,700, for any URI (long or non-ASCII); the catalog's T-SQL parses.

Azure SQL cannot run here: these tests check the T-SQL the platform generates (sqlglot) and the
byte widths of the key columns it declares."""

import re

import pandas as pd
import pytest
import sqlglot

from assets import tables
from assets.ingest.assets import move_sql
from assets.ingest.current import split_duplicated_locations
from resources.warehouse.azure_sql_warehouse import AzureSqlWarehouse
from resources.warehouse.dialects import STAGED_TSQL, TSQL
from resources.warehouse.schema import TableSpec, key_hash
from resources.warehouse.sql import ddl, delete_keys_sql, insert_new_sql, tsql_stage_batches

SPECS = [v for v in vars(tables).values() if isinstance(v, TableSpec)]
FIXED_BYTES = {"int64": 8, "int32": 4, "float64": 8, "bool": 1, "date": 3, "timestamp": 10}
CLUSTERED_KEY_LIMIT = 900  # bytes, SQL Server / Azure SQL
INDEX_KEY_LIMIT = 1700  # bytes, nonclustered indexes


def _key_bytes(spec: TableSpec, columns) -> int:
    by_name = {c.name: c for c in spec.columns}
    total = 0
    for name in columns:
        column = by_name[name]
        if column.type == "string":
            assert column.length, f"{spec.name}.{name} is a key column of unbounded NVARCHAR(MAX)"
            total += 2 * column.length  # NVARCHAR: two bytes per character
        else:
            total += FIXED_BYTES[column.type]
    return total


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_primary_key_and_index_fits_azure_sqls_key_limits(spec):
    assert _key_bytes(spec, spec.primary_key) <= CLUSTERED_KEY_LIMIT
    for index in spec.indexes:
        assert _key_bytes(spec, index) <= INDEX_KEY_LIMIT
    for statement in ddl(spec, TSQL):
        assert sqlglot.parse(statement, read="tsql")


def test_locations_are_keyed_by_a_hash_of_the_full_uri_of_any_length():
    long_name = "x/" + "é" * 1022  # a 1,024-character blob name: 2,045 bytes of UTF-8
    uri = "https://account.blob.core.windows.net/raw/" + long_name.replace("é", "%C3%A9")
    assert len(uri.encode()) > 6000
    row = pd.DataFrame(
        [{c: None for c in tables.RAW_IMAGES.column_names if c != "source_key"}]
    ).assign(source_uri=uri, image_id="a" * 64)
    conformed = tables.RAW_IMAGES.conform(row)
    assert conformed.source_key[0] == key_hash(uri) and len(key_hash(uri)) == 64
    assert conformed.source_uri[0] == uri  # the full text is kept in its (unbounded) column
    # The staged T-SQL carries the URI as a parameter into an NVARCHAR(MAX) column.
    create_stage, _ = AzureSqlWarehouse(server="s", database="d").stage_sql(tables.RAW_IMAGES)
    assert re.search(r"\[source_uri\] NVARCHAR\(MAX\)", create_stage)
    assert re.search(r"\[source_key\] NVARCHAR\(64\)", create_stage)
    ((sql, params),) = tsql_stage_batches(
        tables.RAW_IMAGES, STAGED_TSQL, list(conformed.itertuples(index=False, name=None))
    )
    assert uri in params and sqlglot.parse_one(sql.replace("?", "@p"), read="tsql")


def test_the_catalogs_moves_are_valid_tsql():
    statements = [
        *move_sql(TSQL, STAGED_TSQL).values(),
        delete_keys_sql(tables.RAW_IMAGES, STAGED_TSQL, TSQL),
        insert_new_sql(tables.RAW_IMAGES_HISTORY, STAGED_TSQL, TSQL),
        insert_new_sql(tables.QUARANTINED_IMAGES, STAGED_TSQL, TSQL),
    ]
    for statement in statements:
        parsed = sqlglot.parse_one(statement, read="tsql")
        assert isinstance(parsed, (sqlglot.exp.Delete, sqlglot.exp.Insert))
    # T-SQL deletes through an alias only as DELETE alias FROM table alias.
    for statement in move_sql(TSQL, STAGED_TSQL).values():
        assert not re.match(r"DELETE FROM \S+ t\b", statement)


def test_a_catalog_with_several_rows_per_location_migrates_to_one_current_row():
    when = pd.Timestamp("2026-01-01", tz="UTC")
    old = pd.DataFrame(
        {
            "image_id": ["old", "new", "other"],
            "source_uri": ["file:///a.jpg", "file:///a.jpg", "file:///b.jpg"],
            "ingested_at": [when, when + pd.Timedelta(days=1), when],
            "last_modified": [when, when + pd.Timedelta(days=1), when],
        }
    )
    current, history = split_duplicated_locations(old, when.to_pydatetime())
    assert sorted(current.image_id) == ["new", "other"]
    assert list(history.image_id) == ["old"] and list(history.replaced_by) == ["new"]
    assert list(history.retired_reason) == ["overwritten"]


def test_an_older_predictions_table_gains_its_hashed_key_before_it_is_read(warehouse):
    import duckdb

    with duckdb.connect(warehouse.path) as con:
        con.execute(
            "CREATE TABLE image_predictions (partition_date DATE, blob_path VARCHAR, "
            "image_id VARCHAR, predicted_label VARCHAR, probability DOUBLE, "
            "model_version VARCHAR, reused BOOLEAN, last_modified TIMESTAMPTZ, "
            "classified_at TIMESTAMPTZ, PRIMARY KEY (partition_date, blob_path))"
        )
        con.execute(
            "INSERT INTO image_predictions VALUES ('2026-03-14', 'incoming/a\nb.jpg', 'x', "
            "'cat', 0.9, 'v1', false, NULL, NULL)"
        )
    assert warehouse.table_exists(tables.IMAGE_PREDICTIONS)
    rows = warehouse.read_table(tables.IMAGE_PREDICTIONS)
    assert list(rows.blob_key) == [key_hash("incoming/a\nb.jpg")]
    # A writer that builds its frame from the spec's columns leaves blob_key empty: filled in.
    frame = pd.DataFrame(
        [
            {
                "partition_date": "2026-03-14",
                "blob_path": "incoming/c.jpg",
                "image_id": "y",
                "model_version": "v1",
            }
        ],
        columns=tables.IMAGE_PREDICTIONS.column_names,
    )
    frame["partition_date"] = pd.to_datetime(frame.partition_date).dt.date
    warehouse.replace_partition(
        [(tables.IMAGE_PREDICTIONS, frame)], {"partition_date": frame.partition_date[0]}
    )
    assert list(warehouse.read_table(tables.IMAGE_PREDICTIONS).blob_key) == [
        key_hash("incoming/c.jpg")
    ]
