{{ config(meta={'dagster': {'ref': {'name': 'duplicate_groups'}}}) }}
{#- Every hashed image has exactly one row in duplicate_groups, and no other image has one. -#}
with rows_per_image as (
    select s.image_id, count(g.image_id) as group_rows
    from {{ ref('stg_images') }} as s
    left join {{ ref('duplicate_groups') }} as g on g.image_id = s.image_id
    group by s.image_id
)

select image_id, group_rows
from rows_per_image
where group_rows <> 1

union all

select g.image_id, 0 as group_rows
from {{ ref('duplicate_groups') }} as g
where not exists (select 1 from {{ ref('stg_images') }} as s where s.image_id = g.image_id)
