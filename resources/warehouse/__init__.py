"""The warehouse behind one interface: DuckDB (local, ci) and Azure SQL (prod).

``schema`` (TableSpec, Column), ``dialects`` (what differs between DuckDB and T-SQL, as data)
and ``sql`` (the statement builders) are pure; ``base`` holds the ``Warehouse`` interface (a
Dagster resource); ``duckdb_warehouse`` and ``azure_sql_warehouse`` are one driver each. This file
imports nothing, so a pure module can use the schema without loading Dagster.

Assets describe their tables once (``TableSpec``) and write DataFrames through three idempotent
operations, each one transaction:

* ``insert_new``   — insert only rows whose primary key is not in the table yet (catalog, hashes);
* ``replace_where`` — delete the rows of one partition (``column = value``) and insert the new ones
                      (nightly outputs: re-running a day replaces exactly that day);
* ``upsert``       — replace rows by primary key;
* ``replace_partition`` — ``replace_where`` on several tables in ONE transaction (a night's
                      predictions and probabilities: readers never see one without the other).

The SQL for each dialect is produced by pure functions (``ddl``, ``insert_new_sql``,
``tsql_stage_batches`` …), so the Azure SQL statements are tested without a server.

Bulk paths: DuckDB scans the batch as a registered Arrow table (zero-copy, typed strings and
timestamps). Azure SQL stages the batch into a session ``#temp`` table with multi-row
``INSERT … VALUES`` statements — at most 1000 rows and 2100 parameters each, T-SQL's limits — on the
same connection and inside the same transaction as the set-based statement that moves the rows, so
a write is atomic and a retried write (same partition, same keys) leaves the same rows.
"""
