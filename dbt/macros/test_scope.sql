{#-
    Tests that check, in an incremental refresh, only the rows it can have changed.

    A generic test configured with `where: dedup_refreshed_rows` reads, in an incremental
    refresh (var dedup_since), only the rows of its table that the refresh can have written
    (dedup_refreshed_rows); in a full build, every row. The rows it did not write are those the
    previous refresh checked (only additions happen between them, otherwise the refresh is
    full), so the test is complete when every violation the refresh can have made lies in the
    scope. The scope selects on the tested key itself, so for `unique` on that key two rows
    sharing a value include a written one (the others were unique before) and are both in it;
    for a row-wise test every written row is in it.

    Used where it pays: the unique keys of image_hashes and stg_images (1M images: 0.03 s
    instead of 0.08 s each). Scoping the link tables' tests by the images sharing a changed
    image's hash cost as much as the tests (the scope is itself a semi-join over the
    collection), so they read whole tables. Everything else passes through to dbt's own
    get_where_subquery.
-#}
{% macro get_where_subquery(relation) -%}
    {%- if config.get('where') == 'dedup_refreshed_rows' -%}
        {%- if not dedup_incremental() -%}
            {{ return(relation) }}
        {%- endif -%}
        {%- set scoped -%}
            (select * from {{ relation }} where {{ dedup_refreshed_rows(relation.identifier) }})
                dbt_subquery
        {%- endset -%}
        {{ return(scoped) }}
    {%- endif -%}
    {{ return(adapter.dispatch('get_where_subquery', 'dbt')(relation)) }}
{%- endmacro %}

{#-
    A predicate on image_id selecting, in table `name`, the rows an incremental refresh can have
    written:

      * stg_images: the changed images (its delete+insert on image_id);
      * image_hashes (a source, written by the hashing stage): the images hashed after the marks
        are among the changed ones; a row hashed before them is one the last refresh saw (the
        refresh is incremental only when the rows up to the marks are as many as then, and the
        hashing stage stamps every write).
-#}
{% macro dedup_refreshed_rows(name) -%}
    {%- if name in ('image_hashes', 'stg_images') -%}
        image_id in ({{ changed_image_ids() }})
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "where: dedup_refreshed_rows on " ~ name ~ ", a table whose refreshed rows are not "
            ~ "known (macro dedup_refreshed_rows)") }}
    {%- endif -%}
{%- endmacro %}
