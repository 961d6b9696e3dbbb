{#-
    The lab's UniquePaintings: one row per duplicate group, the representative kept by the keep
    rule, with its catalog attributes, its hashes, and the labels found across its whole group.

    Incremental refresh (var dedup_since): only the groups that hold a changed image can change
    (duplicate_groups decides exactly those again; their members' catalogue rows and labels are
    the only new ones), so the pre-hook deletes the rows of every member of those groups (the
    old representatives of groups that merged among them) and the model appends those groups'
    rows afresh.
-#}
{{ config(
    materialized=dedup_materialized(),
    incremental_strategy='append',
    pre_hook=unique_images_pre_hook(),
) }}
{%- set incremental = dedup_incremental() %}
with representatives as (
    select image_id, group_id, group_size
    from {{ ref('duplicate_groups') }}
    where {{ is_true('is_representative') }}
    {%- if incremental %}
        and group_id in ({{ changed_group_ids() }})
    {%- endif %}
),

group_labels as (
    -- labels of every location of every member: a group filed under two labels is a conflict
    -- the split and the publishing stages must see
    select
        group_id,
        count(*) as group_label_count,
        {{ string_agg_sorted('label', ', ') }} as group_labels
    from (
        select distinct g.group_id, c.label
        from {{ ref('duplicate_groups') }} as g
        inner join {{ source('warehouse', 'raw_images') }} as c on c.image_id = g.image_id
        where c.label is not null
        {%- if incremental %}
            and g.group_id in ({{ changed_group_ids() }})
        {%- endif %}
    ) as member_labels
    group by group_id
)

select
    s.image_id,
    r.group_id,
    r.group_size,
    s.label,
    s.width,
    s.height,
    s.format,
    s.mode,
    s.byte_size,
    s.name,
    s.source_uri,
    s.location_count,
    coalesce(gl.group_label_count, 0) as group_label_count,
    gl.group_labels,
    {%- for size in range(1, 9) %}
    s.DHashHex{{ size }},
    {%- endfor %}
    {%- for size in range(1, 9) %}
    s.dhash{{ size }}_row,
    s.dhash{{ size }}_col,
    {%- endfor %}
    s.hash_version
from representatives as r
inner join {{ ref('stg_images') }} as s on s.image_id = r.image_id
left join group_labels as gl on gl.group_id = r.group_id
