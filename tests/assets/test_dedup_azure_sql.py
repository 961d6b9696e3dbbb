"""The dedup project compiled for Azure SQL without a server, and the T-SQL it produces.

Nothing here reaches a database: `dbt compile --no-populate-cache` renders every model and test
offline (no model introspects the warehouse), and sqlglot's T-SQL parser checks the result.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest
import sqlglot

from assets.dedup.project import DBT_PROJECT_DIR, SQLSERVER_TARGET, dbt_executable, dbt_vars
from assets.dedup.refresh import LAST_REFRESH

MODELS = [
    "stg_images",
    "near_duplicate_pairs",
    "border_trimmed_pairs",
    "multi_size_pairs",
    "centre_pairs",
    "edge_cut_pairs",
    "bucket_links",
    "duplicate_groups",
    "unique_images",
    "unique_counts_by_label",
    "similar_images",
]


# Placeholders: compile renders the profile but never connects.
_OFFLINE_ENV = {
    "IMAGE_PLATFORM_SQL_SERVER": "unreachable.invalid",
    "IMAGE_PLATFORM_SQL_DATABASE": "images",
    "IMAGE_PLATFORM_SQL_USER": "nobody",
    "IMAGE_PLATFORM_SQL_PASSWORD": "not-a-secret",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
}


def _dbt_compile(out: Path, args: list[str]) -> str:
    """``dbt compile`` for Azure SQL offline, into ``out``; its standard output."""
    result = subprocess.run(
        [
            dbt_executable(),
            "compile",
            "--no-populate-cache",
            "--target",
            SQLSERVER_TARGET,
            "--target-path",
            str(out / "target"),
            "--log-path",
            str(out / "logs"),
            *args,
        ],
        cwd=DBT_PROJECT_DIR,
        env={**os.environ, **_OFFLINE_ENV},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _compile(out: Path, extra: list[str]) -> dict[str, str]:
    _dbt_compile(out, extra)
    files = (out / "target" / "compiled").rglob("*.sql")
    return {Path(f).stem: Path(f).read_text() for f in files}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict[str, str]:
    return _compile(tmp_path_factory.mktemp("sqlserver"), [])


MARK = "2025-01-01 00:00:00+00:00"


@pytest.fixture(scope="module", params=["marks", "last_refresh"])
def compiled_incremental(request, tmp_path_factory) -> tuple[str, dict[str, str]]:
    """The incremental refresh's SQL, compiled for Azure SQL offline: with the marks given as
    values (a refresh by hand) and read from dedup_refreshes (what the asset passes)."""
    if request.param == "marks":
        since: object = {"catalog_mark": MARK, "hash_mark": MARK}
    else:
        since = LAST_REFRESH
    out = tmp_path_factory.mktemp(f"sqlserver-incremental-{request.param}")
    return request.param, _compile(out, ["--vars", json.dumps({"dedup_since": since})])


def test_every_model_and_test_compiles_for_azure_sql_without_a_server(compiled):
    assert set(MODELS) <= set(compiled)
    assert {
        "assert_duplicate_groups_converged",
        "assert_representative_is_largest",
        "assert_every_image_in_exactly_one_group",
        "assert_unique_images_one_row_per_group",
        "assert_duplicate_groups_consistent",
    } <= set(compiled)


def test_compiled_models_and_tests_parse_as_tsql(compiled):
    for name, sql in compiled.items():
        statements = sqlglot.parse(sql, read="tsql", error_level=sqlglot.ErrorLevel.RAISE)
        assert len(statements) == 1, name


def test_tsql_uses_its_own_xor_bit_count_booleans_and_string_aggregation(compiled):
    pairs = compiled["near_duplicate_pairs"]
    assert "BIT_COUNT(" in pairs and " ^ " in pairs and "xor(" not in pairs
    groups = compiled["duplicate_groups"]
    assert "CAST(CASE WHEN rank_in_group = 1 THEN 1 ELSE 0 END AS BIT)" in groups
    assert "STRING_AGG(CAST(source_uri AS NVARCHAR(MAX))" in compiled["stg_images"]
    assert "WITHIN GROUP (ORDER BY source_uri)" in compiled["stg_images"]
    assert "(is_representative = 1)" in compiled["unique_images"]
    # T-SQL types big literals as NUMERIC, which & rejects: every mask is a BIGINT
    assert "& CAST(" in pairs and "AS BIGINT)" in pairs


def test_tsql_components_iteration_reads_each_round_once_without_recursion(compiled):
    rounds = int(dbt_vars()["dedup_cc_rounds"])
    tree = sqlglot.parse_one(compiled["duplicate_groups"], read="tsql")
    ctes = {cte.alias: cte for cte in tree.find_all(sqlglot.exp.CTE)}
    assert f"components_r{rounds}" in ctes and "components_labels" in ctes
    # DuckDB's recursive form (WITH RECURSIVE ... USING KEY) is not T-SQL
    assert "recursive" not in compiled["duplicate_groups"].lower()
    assert "using key" not in compiled["duplicate_groups"].lower()
    for name, cte in ctes.items():
        tables = [t.name for t in cte.this.find_all(sqlglot.exp.Table)]
        reads = [t for t in tables if t in ctes]
        assert name not in reads  # no recursion
        if name == "components_r1_both_ends":
            assert tables == ["bucket_links"]  # the edges are a table, not a chain of CTEs
        elif name.startswith("components_"):
            # T-SQL inlines CTEs: one read of the previous step keeps the plan linear in rounds
            assert len(reads) == 1, (name, reads)


def test_tsql_near_duplicate_links_search_distinct_hashes_and_attach_copies_as_a_star(compiled):
    for model in ("near_duplicate_pairs", "border_trimmed_pairs"):
        tree = sqlglot.parse_one(compiled[model], read="tsql")
        ctes = {cte.alias: cte for cte in tree.find_all(sqlglot.exp.CTE)}
        assert {"candidates", "hash_pairs"} <= set(ctes)
        # the band joins read the table of distinct hashes the pre-hook built, never the images
        # nor a CTE (which DuckDB re-reads per join: 3.3 GB instead of 176 MB at 1M hashes)
        joined = {t.name for t in ctes["candidates"].this.find_all(sqlglot.exp.Table)}
        assert joined == {f"{model}__hashes"}
        # the outer query: the star of copies and the pairs of centres, nothing else
        assert isinstance(tree, sqlglot.exp.Union)


def _compile_inline(out: Path, sql: str, extra: list[str]) -> str:
    """One inline SQL text rendered for Azure SQL offline (the hooks, which dbt compile does not
    write out)."""
    return _dbt_compile(out, ["--quiet", "--inline", sql, *extra])


def _hook_statements(out: Path, hooks: str, form: str) -> tuple[str, list]:
    """Hooks rendered for Azure SQL offline, and their statements parsed as T-SQL, for a full
    build (``form`` "full") or an incremental refresh since explicit marks ("marks") or since
    the last refresh."""
    since = {"catalog_mark": MARK, "hash_mark": MARK} if form == "marks" else LAST_REFRESH
    extra = [] if form == "full" else ["--vars", json.dumps({"dedup_since": since})]
    sql = _compile_inline(out, hooks, extra)
    parsed = sqlglot.parse(sql, read="tsql", error_level=sqlglot.ErrorLevel.RAISE)
    return sql, [s for s in parsed if s is not None]


@pytest.mark.parametrize("form", ["full", "marks", LAST_REFRESH])
def test_tsql_link_model_hooks_build_and_drop_the_distinct_hash_table(tmp_path, form):
    # what border_trimmed_pairs' hooks render (hash_link_pre_hook, hash_link_post_hook)
    columns = "'dhash8_trim_row', 'dhash8_trim_col'"
    delete = f"delete_links_of_changed(model, ref('stg_images'), {columns}, changed_image_ids())"
    hooks = (
        "{% set model = ref('border_trimmed_pairs') %}"
        f"{{% if dedup_incremental() %}}{{{{ {delete} }}}};{{% endif %}}"
        "{{ drop_link_hashes(model) }};"
        f"{{{{ create_link_hashes(model, {columns}) }}}};"
        "{{ drop_link_hashes(model) }};"
    )
    sql, statements = _hook_statements(tmp_path, hooks, form)
    kinds = [type(s).__name__ for s in statements]
    # incremental: the changed values' links deleted first; then the table dropped (a killed
    # build may have left it) and created by SELECT INTO (T-SQL has no CREATE TABLE AS); the
    # post-hook drops it again
    assert kinds == ([] if form == "full" else ["Delete"]) + ["Drop", "Select", "Drop"], kinds
    tables = [
        s.args["tables"][0].name if s.key == "drop" else s.args["into"].this.name
        for s in statements[-3:]
    ]
    assert tables == ["border_trimmed_pairs__hashes"] * 3
    # the table flags the values the incremental search starts from: the changed images'
    read = {t.name for t in statements[-2].find_all(sqlglot.exp.Table)}
    assert ("raw_images" in read) == (form != "full")
    assert ("dedup_refreshes" in read) == (form == LAST_REFRESH)
    assert (f"CAST('{MARK}' AS DATETIMEOFFSET(6))" in sql) == (form == "marks")


@pytest.mark.parametrize("form", ["full", LAST_REFRESH])
def test_tsql_bucket_links_hooks_store_the_touched_buckets_once(tmp_path, form):
    # what bucket_links' hooks render (bucket_links_pre_hook, bucket_links_post_hook)
    touched = "bucket_links_touched_relation(model)"
    keys = f"{{{{ bucket_links_touched_keys({touched}) }}}}"
    hooks = (
        "{% set model = ref('bucket_links') %}"
        f"drop table if exists {{{{ {touched} }}}};"
        "{% if dedup_incremental() %}"
        f"{{{{ create_table_as_select({touched}, bucket_links_touched_values()) }}}};"
        f"delete from {{{{ model }}}} where node_lo in ({keys}) or node_hi in ({keys});"
        "{% endif %}"
        f"drop table if exists {{{{ {touched} }}}};"
    )
    _, statements = _hook_statements(tmp_path, hooks, form)
    kinds = [type(s).__name__ for s in statements]
    # a table left by a killed build dropped; incremental: the touched buckets' values stored by
    # SELECT INTO, then the delete of their edges; the post-hook drops the table
    middle = [] if form == "full" else ["Select", "Delete"]
    assert kinds == ["Drop", *middle, "Drop"], kinds
    if form == "full":
        return
    assert statements[1].args["into"].this.name == "bucket_links__touched"
    # the changed images' links are searched once, by the SELECT INTO; the delete reads its table
    stored = {t.name for t in statements[1].find_all(sqlglot.exp.Table)}
    assert {"near_duplicate_pairs", "raw_images", "dedup_refreshes"} <= stored
    deleted = {t.name for t in statements[2].find_all(sqlglot.exp.Table)}
    assert deleted == {"bucket_links", "bucket_links__touched", "stg_images"}


def test_tsql_multi_size_link_band_searches_both_coarse_sizes(compiled):
    variables = dbt_vars()
    sql = compiled["multi_size_pairs"]
    tree = sqlglot.parse_one(sql, read="tsql")
    ctes = {cte.alias: cte for cte in tree.find_all(sqlglot.exp.CTE)}
    candidates = ctes["candidates"].this
    joins = list(candidates.find_all(sqlglot.exp.Join))
    # agreement 2: (d + 2)(d + 1) / 2 band keys per coarse rule, each one hash join
    expected = sum(
        (d + 2) * (d + 1) // 2
        for d in (
            int(variables["near_duplicate_confirm_distance"]),
            int(variables["near_duplicate_fine_distance"]),
        )
        if d >= 0
    )
    assert len(joins) == expected
    assert "a.coarse_row & CAST(" in sql and "a.fine_row & CAST(" in sql
    assert "BIT_COUNT(" in sql and "xor(" not in sql
    fine_size = int(variables["near_duplicate_fine_size"])
    assert f"dhash{fine_size}_row as fine_row" in sql


def test_tsql_similar_images_joins_large_buckets_to_their_first_image_only(compiled):
    sql = compiled["similar_images"]
    sqlglot.parse_one(sql, read="tsql")
    assert "a.image_id = a.bucket_first_id" in sql


def test_incremental_refresh_sql_parses_as_tsql_and_reads_only_changed_images(
    compiled_incremental,
):
    form, compiled = compiled_incremental
    for name in (
        "stg_images",
        "near_duplicate_pairs",
        "border_trimmed_pairs",
        "duplicate_groups",
        "similar_images",
        "unique_images",
    ):
        sql = compiled[name]
        statements = sqlglot.parse(sql, read="tsql", error_level=sqlglot.ErrorLevel.RAISE)
        assert len(statements) == 1, name
        if name.endswith("_pairs"):
            continue  # their pre-hook reads the changed images (test below)
        tables = {t.name for t in statements[0].find_all(sqlglot.exp.Table)}
        if form == "marks":
            assert f"CAST('{MARK}' AS DATETIMEOFFSET(6))" in sql, name
            assert "dedup_refreshes" not in tables, name
        else:  # the marks of the newest refresh, read where the asset recorded them
            assert MARK not in sql, name
            assert "dedup_refreshes" in tables, name
    tree = sqlglot.parse_one(compiled["duplicate_groups"], read="tsql")
    assert "decided_images" in {c.alias for c in tree.find_all(sqlglot.exp.CTE)}
    for name in ("near_duplicate_pairs", "border_trimmed_pairs"):
        # the band search starts from the changed images' values only (flagged by the pre-hook,
        # which reads the marks: test_tsql_link_model_hooks_build_and_drop_the_distinct_hash_table)
        assert "a.searched = 1" in compiled[name], name


@pytest.mark.parametrize("form", ["full", "marks", LAST_REFRESH])
def test_tsql_edge_cut_hooks_build_its_distinct_hash_tables_and_touched_images(tmp_path, form):
    # what edge_cut_pairs' hooks render (edge_cut_pre_hook, edge_cut_post_hook), with the
    # model's relation for `this`
    hooks = (
        "{% set model = ref('edge_cut_pairs') %}"
        "{% for suffix in ['areas', 'cuts', 'touched'] %}"
        "drop table if exists {{ edge_cut_relation(model, suffix) }};{% endfor %}"
        "{% for kind in ['area', 'cut'] %}{{ create_table_as_select("
        "edge_cut_relation(model, kind ~ 's'), edge_cut_values_sql(kind)) }};{% endfor %}"
        "{% if dedup_incremental() %}"
        "{{ create_table_as_select(edge_cut_relation(model, 'touched'), "
        "edge_cut_touched_sql(model)) }};"
        "{{ edge_cut_flag_searched(model, 'areas') }};"
        "{{ edge_cut_flag_searched(model, 'cuts') }};"
        "{{ edge_cut_delete_touched(model) }};"
        "{% endif %}"
    )
    sql, statements = _hook_statements(tmp_path, hooks, form)
    kinds = [type(s).__name__ for s in statements]
    incremental = ["Select", "Update", "Update", "Delete"]
    assert kinds == ["Drop"] * 3 + ["Select"] * 2 + ([] if form == "full" else incremental)
    # T-SQL has no CREATE TABLE AS nor a WITH inside a derived table: SELECT INTO, subqueries
    into = [s.args["into"].this.name for s in statements if s.args.get("into")]
    assert into == ["edge_cut_pairs__areas", "edge_cut_pairs__cuts"] + (
        [] if form == "full" else ["edge_cut_pairs__touched"]
    )
    assert not any(s.find(sqlglot.exp.With) for s in statements)
    # the touched images include the centres of cut hashes a new area hash matches
    assert ("BIT_COUNT(" in sql) == (form != "full") and "xor(" not in sql
