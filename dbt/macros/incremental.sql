{#-
    Incremental refresh of the dedup tables from a batch of new images.

    The Dagster asset (assets/dedup/assets.py) passes `dedup_since`, the catalogue and hash
    marks of the last complete refresh, only when everything since then was an addition (no
    catalogue row removed or overwritten, no image re-hashed, same variables and models);
    otherwise, or when asked, it rebuilds in full. Without the variable every model is a plain
    table built from the whole collection, so a `dbt build` by hand is always a full rebuild.

      dedup_since: {"catalog_mark": "<ISO timestamp>", "hash_mark": "<ISO timestamp>"}
      dedup_since: last_refresh   (the marks of the newest row of dedup_refreshes)

    The asset passes `last_refresh`: the same marks it planned from, read by the SQL, so the
    variables of every incremental refresh are the same and dbt keeps its partial parse (dbt
    re-parses the whole project whenever a variable's value changes: seconds per batch).

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
    {%- if since == 'last_refresh' -%}
        {%- set catalog_mark = last_refresh_mark('catalog_mark') -%}
        {%- set hash_mark = last_refresh_mark('hash_mark') -%}
    {%- elif since is mapping and since.catalog_mark is defined and since.hash_mark is defined -%}
        {%- set catalog_mark = timestamp_literal(since.catalog_mark) -%}
        {%- set hash_mark = timestamp_literal(since.hash_mark) -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "dedup_since needs catalog_mark and hash_mark, or last_refresh, got " ~ since) }}
    {%- endif -%}
    select image_id from {{ source('warehouse', 'raw_images') }}
    where ingested_at > {{ catalog_mark }}
    union
    select image_id from {{ source('warehouse', 'image_hashes') }}
    where hashed_at > {{ hash_mark }}
{%- endmacro %}

{#-
    A mark of the last complete refresh, as a scalar subquery: the newest row of dedup_refreshes
    (written by the asset after each refresh; not a dbt source, so it adds no asset to the
    graph). No row, or no mark (an empty catalogue): everything after the epoch is new.
-#}
{% macro last_refresh_mark(column) -%}
    {%- set refreshes = api.Relation.create(
        database=target.database, schema=target.schema, identifier='dedup_refreshes') -%}
    (select coalesce(max(r.{{ column }}), {{ timestamp_literal('1970-01-01 00:00:00') }})
     from {{ refreshes }} as r
     where r.refreshed_at = (select max(refreshed_at) from {{ refreshes }}))
{%- endmacro %}

{#-
    The link models: every model of near-duplicate links between images, with the word that names
    its links in duplicate_groups' reasons. Each has the shape (image_id_a, image_id_b, distance)
    and links images by one hash column pair (a star per distinct value plus pairs of distinct
    values: macro near_duplicate_links), so each is refreshed the same way from the new images'
    hashes (macro hash_link_model). multi_size_pairs links centres of (size k or size f, size 8,
    content box) hash tuples and is rebuilt in full by every refresh (seconds at 1M images): exact, as its
    changed rows, like the others', only touch a changed image's tuple and that tuple's centre,
    which shares the changed image's size-8 hash and so its group. centre_pairs is refreshed
    like the first two (hash_link_model); edge_cut_pairs (area hashes against other images' cut
    hashes) deletes and rebuilds the rows of the images its pre-hook finds touched (macros in
    edge_cut.sql; see the model). bucket_links, duplicate_groups
    and the convergence test read every link from here: a new link model is one line in this
    list (and, for one hash column pair, a model calling hash_link_model), nothing else.
-#}
{% macro dedup_link_models() %}
    {{ return([
        {'model': 'near_duplicate_pairs', 'link': 'near_duplicate'},
        {'model': 'border_trimmed_pairs', 'link': 'border_trimmed'},
        {'model': 'multi_size_pairs', 'link': 'multi_size'},
        {'model': 'centre_pairs', 'link': 'centre'},
        {'model': 'edge_cut_pairs', 'link': 'edge_cut'},
    ]) }}
{% endmacro %}

{#- Every link of every link model, with its kind: (image_id_a, image_id_b, distance, link). -#}
{% macro dedup_links() %}
    {%- for m in dedup_link_models() %}
    select image_id_a, image_id_b, distance, '{{ m.link }}' as link from {{ ref(m.model) }}
        {%- if not loop.last %}
    union all
        {%- endif %}
    {%- endfor %}
{% endmacro %}

{#-
    The body of a link model on one hash column pair of stg_images (images that may take no hash
    link left out). Full: near_duplicate_links over every image. Incremental (dedup_since): the
    model's pre-hook (hash_link_pre_hook) has deleted every link of the hash values the changed
    images have (their stars and their centres' pairs: a smaller image_id may have become a
    centre), and this appends them afresh: the band search runs for those values only, against
    all distinct values. New rows are therefore only those touching a changed image or its
    value's centre, and the table equals a full rebuild's.

    The band joins read the model's distinct hash values from a table (`<model>__hashes`) that
    the pre-hook creates and the post-hook (hash_link_post_hook) drops: see near_duplicate_links.
-#}
{% macro hash_link_model(row_column, col_column, threshold, agreement) %}
{{ near_duplicate_links(
    linkable_images(row_column, col_column),
    row_column,
    col_column,
    threshold,
    agreement,
    hashes=link_hashes_relation(this),
    changed=(changed_image_ids() if dedup_incremental() else none),
) }}
{% endmacro %}

{#- The images of stg_images that may take a hash link, with one hash column pair. -#}
{% macro linkable_images(row_column, col_column) -%}
    (select image_id, {{ row_column }}, {{ col_column }} from {{ ref('stg_images') }}
        where unlinkable_id is null)
{%- endmacro %}

{#-
    The pre-hooks of a link model: the delete of changed values' links (incremental only), then
    the table of its distinct hash values (dropped first: a killed build may have left one).
-#}
{% macro hash_link_pre_hook(row_column, col_column) %}
    {%- set hooks = [] -%}
    {%- if dedup_incremental() -%}
        {%- do hooks.append("{{ delete_links_of_changed(this, ref('stg_images'), '" ~ row_column
                            ~ "', '" ~ col_column ~ "', changed_image_ids()) }}") -%}
    {%- endif -%}
    {%- do hooks.append("{{ drop_link_hashes(this) }}") -%}
    {%- do hooks.append("{{ create_link_hashes(this, '" ~ row_column ~ "', '" ~ col_column
                        ~ "') }}") -%}
    {{ return(hooks) }}
{% endmacro %}

{#- The post-hook of a link model: its distinct-hash table is dropped once the links are built. -#}
{% macro hash_link_post_hook() %}
    {{ return(["{{ drop_link_hashes(this) }}"]) }}
{% endmacro %}

{% macro drop_link_hashes(model) -%}
    drop table if exists {{ link_hashes_relation(model) }}
{%- endmacro %}

{% macro create_link_hashes(model, row_column, col_column) -%}
    {{ create_table_as_select(
        link_hashes_relation(model),
        link_hashes_sql(
            linkable_images(row_column, col_column),
            row_column,
            col_column,
            changed=(changed_image_ids() if dedup_incremental() else none),
        ),
    ) }}
{%- endmacro %}

{#-
    The size-k buckets of duplicate_groups, one row per image of stg_images: images with equal
    hashes (size k = dedup_hash_size when dedup_same_hash_link is on, size 8 otherwise) are one
    bucket, keyed by its smallest image_key; an image that may not link is a bucket of its own
    (unlinkable_id is its image_id). bucket_links and duplicate_groups read the same keys.
    image_key is unique in stg_images (an incremental refresh gives new images keys after the
    largest), and only used as an identity here.

    only: a relation of bucket values (bucket_row, bucket_col, bucket_unlinkable_id, as
    dedup_bucket_values_of gives): only the images with those values are read, whole buckets, so
    their keys are those of the whole collection; with_group: each row also carries the value
    row's group_key.
-#}
{% macro dedup_bucket_size() %}
    {{ return((var('dedup_hash_size') | int) if var('dedup_same_hash_link') else 8) }}
{% endmacro %}

{% macro dedup_buckets(only=none, with_group=false) %}
{%- set k = dedup_bucket_size() -%}
    select
        s.image_key,
        s.image_id,
        s.label,
        s.width,
        s.height,
        s.byte_size,
        s.format,
        s.source_uri,
        s.dhash8_row,
        s.dhash8_col,
        s.dhash8_trim_row,
        s.dhash8_trim_col,
        min(s.image_key) over (
            partition by s.dhash{{ k }}_row, s.dhash{{ k }}_col, s.unlinkable_id
        ) as bucket_key,
        min(s.image_id) over (
            partition by s.dhash{{ k }}_row, s.dhash{{ k }}_col, s.unlinkable_id
        ) as bucket_first_id
        {%- if with_group %},
        d.group_key
        {%- endif %}
    from {{ ref('stg_images') }} as s
    {%- if only is not none %}
    inner join {{ only }} as d on {{ dedup_bucket_match('s', 'd') }}
    {%- endif %}
{% endmacro %}

{#- SELECT of the bucket values (as dedup_buckets' `only`) of the images `image_ids` selects. -#}
{% macro dedup_bucket_values_of(image_ids) -%}
{%- set k = dedup_bucket_size() -%}
    select distinct
        v.dhash{{ k }}_row as bucket_row,
        v.dhash{{ k }}_col as bucket_col,
        v.unlinkable_id as bucket_unlinkable_id
    from {{ ref('stg_images') }} as v
    where v.image_id in ({{ image_ids }})
{%- endmacro %}

{#-
    The images of alias `images` (a stg_images row) in the bucket of value `value`'s
    (bucket_row, bucket_col, bucket_unlinkable_id): equal as dedup_buckets' partitions are, nulls
    equal to nulls (IS NOT DISTINCT FROM: DuckDB, SQL Server 2022 and Azure SQL).
-#}
{% macro dedup_bucket_match(images, value) -%}
{%- set k = dedup_bucket_size() -%}
    {{ images }}.dhash{{ k }}_row is not distinct from {{ value }}.bucket_row
        and {{ images }}.dhash{{ k }}_col is not distinct from {{ value }}.bucket_col
        and {{ images }}.unlinkable_id is not distinct from {{ value }}.bucket_unlinkable_id
{%- endmacro %}

{#-
    The pre-hook of similar_images: nothing in full; incremental, the delete of every pair of the
    size-k buckets that hold a changed image (a pair's first image is in its bucket).
-#}
{% macro similar_images_pre_hook() %}
    {%- if not dedup_incremental() -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set k = var('dedup_hash_size') | int -%}
    {{ return(["delete from {{ this }} where image_id_a in ({{ _members_of_changed_hashes("
               ~ "ref('stg_images'), 'dhash" ~ k ~ "_row', 'dhash" ~ k ~ "_col', "
               ~ "changed_image_ids(), 'image_id') }})"]) }}
{% endmacro %}

{#- The groups of duplicate_groups that hold an image catalogued or hashed after the marks. -#}
{% macro changed_group_ids() -%}
    select changed.group_id from {{ ref('duplicate_groups') }} as changed
    where changed.image_id in ({{ changed_image_ids() }})
{%- endmacro %}

{#-
    The pre-hook of unique_images: nothing in full; incremental, the delete of the rows of every
    member of the groups that hold a changed image (their representatives before and after).
-#}
{% macro unique_images_pre_hook() %}
    {%- if not dedup_incremental() -%}
        {{ return([]) }}
    {%- endif -%}
    {{ return(["delete from {{ this }} where image_id in (select member.image_id from "
               ~ "{{ ref('duplicate_groups') }} as member where member.group_id in "
               ~ "({{ changed_group_ids() }}))"]) }}
{% endmacro %}

{#-
    The buckets an incremental refresh of bucket_links rewrites, as bucket values: those of the
    changed images and of every image a link joins to a changed one (a moved hash centre, whose
    old star and pairs are replaced, is joined to the changed image that took its place).
-#}
{% macro bucket_links_touched_values() -%}
    {%- set linked -%}
        {{ changed_image_ids() }}
        union
        -- the other end of every link of a changed image (one scan of the links)
        select case when p.image_id_a in ({{ changed_image_ids() }}) then p.image_id_b
            else p.image_id_a end
        from ({{ dedup_links() }}) as p
        where p.image_id_a in ({{ changed_image_ids() }})
            or p.image_id_b in ({{ changed_image_ids() }})
    {%- endset -%}
    {{ dedup_bucket_values_of(linked) }}
{%- endmacro %}

{#-
    The table of those bucket values, beside bucket_links: built once by its pre-hook, read by
    the pre-hook's delete and by the model (one search of the links for the changed images
    instead of one per reader), dropped by its post-hook.
-#}
{% macro bucket_links_touched_relation(model) %}
    {{ return(model.incorporate(path={"identifier": model.identifier ~ "__touched"})) }}
{% endmacro %}

{#- The keys of the touched buckets (their smallest image_key, as in dedup_buckets). -#}
{% macro bucket_links_touched_keys(touched) -%}
    select min(s.image_key) as bucket_key
    from {{ ref('stg_images') }} as s
    inner join {{ touched }} as t on {{ dedup_bucket_match('s', 't') }}
    group by t.bucket_row, t.bucket_col, t.bucket_unlinkable_id
{%- endmacro %}

{#-
    The pre-hooks of bucket_links: a touched-bucket table left by a killed build is dropped;
    incremental, the touched buckets' values are stored (bucket_links_touched_relation) and
    every edge of those buckets is deleted (the model appends them afresh).
-#}
{% macro bucket_links_pre_hook() %}
    {%- set hooks = ["drop table if exists {{ bucket_links_touched_relation(this) }}"] -%}
    {%- if dedup_incremental() -%}
        {%- do hooks.append("{{ create_table_as_select(bucket_links_touched_relation(this), "
                            ~ "bucket_links_touched_values()) }}") -%}
        {%- do hooks.append("delete from {{ this }} where node_lo in ({{ "
                            ~ "bucket_links_touched_keys(bucket_links_touched_relation(this)) }}) "
                            ~ "or node_hi in ({{ bucket_links_touched_keys("
                            ~ "bucket_links_touched_relation(this)) }})") -%}
    {%- endif -%}
    {{ return(hooks) }}
{% endmacro %}

{#- The post-hook of bucket_links: its touched-bucket table is dropped once the edges are built. -#}
{% macro bucket_links_post_hook() %}
    {{ return(["drop table if exists {{ bucket_links_touched_relation(this) }}"]) }}
{% endmacro %}

{#-
    The rows of duplicate_groups an incremental refresh wrote, as (image_id, group_id): those of
    the groups that hold a changed image. duplicate_groups decides exactly the members of those
    groups and writes each group with its smallest member as group_id, and the group's changed
    image is written with it, so the written rows are the rows with those changed images'
    group_ids. For the tests that check only what a refresh can change.
-#}
{% macro dedup_written_group_rows() -%}
    select w.image_id, w.group_id
    from {{ ref('duplicate_groups') }} as w
    where w.group_id in (
        select c.group_id from {{ ref('duplicate_groups') }} as c
        where c.image_id in ({{ changed_image_ids() }})
    )
{%- endmacro %}
