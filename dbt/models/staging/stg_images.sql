{#-
    One row per image content (image_id) that has hashes, with its representative catalog row.
    The representative location is chosen deterministically: earliest ingested, then smallest
    source_uri. Every location and label is kept as a count and a list.
-#}
{{ config(
    materialized=dedup_materialized(),
    unique_key='image_id',
    incremental_strategy='delete+insert',
) }}
{#-
    Incremental refresh (var dedup_since, see macros/incremental.sql): only the images catalogued
    or hashed after the marks are recomputed, from all of their locations, and replace their rows.
-#}
{%- set incremental = dedup_incremental() %}
{#-
    Blank, flat and tiny pictures take no hash link: their hashes say nothing about the picture
    (image_hashes.content, assets/hashing/engine.py LINKABLE_CONTENT). Rows hashed before the
    content box existed have no content code and are re-hashed by the next image_hashes run.
-#}
{%- set linkable -%}
    coalesce(h.content, '') in ({{ "'" ~ var('dedup_linkable_content') | join("', '") ~ "'" }})
{%- endset %}

with
{%- if incremental %}
changed as (
    {{ changed_image_ids() }}
),
{% endif %}
catalog as (
    select
        image_id,
        source_uri,
        name,
        label,
        width,
        height,
        format,
        mode,
        byte_size,
        ingested_at,
        row_number() over (
            partition by image_id order by ingested_at, source_uri
        ) as location_rank
    from {{ source('warehouse', 'raw_images') }}
    {%- if incremental %}
    where image_id in (select image_id from changed)
    {%- endif %}
),

locations as (
    select
        image_id,
        count(*) as location_count,
        {{ string_agg_sorted('source_uri', ' ') }} as locations
    from catalog
    group by image_id
),

labels as (
    select
        image_id,
        count(*) as label_count,
        {{ string_agg_sorted('label', ', ') }} as labels
    from (select distinct image_id, label from catalog where label is not null) as distinct_labels
    group by image_id
),

hashes as (
    select * from {{ source('warehouse', 'image_hashes') }}
    {%- if incremental %}
    where image_id in (select image_id from changed)
    {%- endif %}
)

select
    c.image_id,
    row_number() over (order by c.image_id)
    {%- if incremental %}
        + (select coalesce(max(image_key), 0) from {{ this }})
    {%- endif %} as image_key,
    c.source_uri,
    c.name,
    c.label,
    c.width,
    c.height,
    c.format,
    c.mode,
    c.byte_size,
    c.ingested_at,
    l.location_count,
    l.locations,
    coalesce(lb.label_count, 0) as label_count,
    lb.labels,
    {%- for s in range(1, 9) %}
    h.DHashHex{{ s }},
    {%- endfor %}
    {%- for s in range(1, 9) %}
    h.dhash{{ s }}_row,
    h.dhash{{ s }}_col,
    {%- endfor %}
    h.hash_mode,
    h.hash_version,
    h.hashed_at,
    h.content,
    h.dhash8_trim_row,
    h.dhash8_trim_col,
    {%- for probe in ['area', 'centre', 'cut_top', 'cut_bottom', 'cut_left', 'cut_right'] %}
    h.dhash8_{{ probe }}_row,
    h.dhash8_{{ probe }}_col,
    {%- endfor %}
    {{ bool_expr(linkable) }} as is_linkable,
    -- null for an image that may take hash links; its own image_id otherwise, so that grouping
    -- on (hash, unlinkable_id) never puts it with anything
    case when {{ linkable }} then null else c.image_id end as unlinkable_id
from catalog as c
inner join hashes as h on h.image_id = c.image_id
inner join locations as l on l.image_id = c.image_id
left join labels as lb on lb.image_id = c.image_id
where c.location_rank = 1
