{#-
    Incremental refresh of the dedup tables from a batch of new images.

    The Dagster asset (assets/dedup/assets.py) passes `dedup_since`, the catalogue and hash
    marks of the last complete refresh, only when everything since then was an addition (no
    catalogue row removed or overwritten, no image re-hashed, same variables and models);
    otherwise, or when asked, it rebuilds in full. Without the variable every model is a plain
    table built from the whole collection, so a `dbt build` by hand is always a full rebuild.

      dedup_since: {"catalog_mark": "<ISO timestamp>", "hash_mark": "<ISO timestamp>"}

    Images changed since the marks are those catalogued at a new location or hashed after them;
    each model recomputes only what they can touch (see each model) and replaces exactly those
    rows, which a full rebuild would give identically.
-#}
{% macro dedup_incremental() -%}
    {{ return(var('dedup_since', none) is not none) }}
{%- endmacro %}

{#- A materialization: incremental with the marks, a table without them. -#}
{% macro dedup_materialized() -%}
    {{ return('incremental' if dedup_incremental() else 'table') }}
{%- endmacro %}

{% macro timestamp_literal(value) -%}
    {{ return(adapter.dispatch('timestamp_literal', 'image_platform')(value)) }}
{%- endmacro %}
{% macro default__timestamp_literal(value) -%} CAST('{{ value }}' AS TIMESTAMP) {%- endmacro %}
{% macro duckdb__timestamp_literal(value) -%} CAST('{{ value }}' AS TIMESTAMPTZ) {%- endmacro %}
{% macro sqlserver__timestamp_literal(value) -%}
    CAST('{{ value }}' AS DATETIMEOFFSET(6))
{%- endmacro %}

{#-
    SELECT image_id of every image catalogued or hashed after the marks (may repeat an id; use
    it with IN). Images only catalogued (not hashed yet) are listed too: models join them to
    stg_images, which holds hashed images only.
-#}
{% macro changed_image_ids() -%}
    {%- set since = var('dedup_since') -%}
    {%- if since.catalog_mark is not defined or since.hash_mark is not defined -%}
        {{ exceptions.raise_compiler_error(
            "dedup_since needs catalog_mark and hash_mark, got " ~ since) }}
    {%- endif -%}
    select image_id from {{ source('warehouse', 'raw_images') }}
    where ingested_at > {{ timestamp_literal(since.catalog_mark) }}
    union
    select image_id from {{ source('warehouse', 'image_hashes') }}
    where hashed_at > {{ timestamp_literal(since.hash_mark) }}
{%- endmacro %}
