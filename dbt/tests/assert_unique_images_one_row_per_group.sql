{{ config(meta={'dagster': {'ref': {'name': 'unique_images'}}}) }}
{#- unique_images holds exactly the representatives: one row per group, none missing. -#}
select g.group_id, g.image_id, 'missing from unique_images' as problem
from {{ ref('duplicate_groups') }} as g
where {{ is_true('g.is_representative') }}
    and not exists (
        select 1 from {{ ref('unique_images') }} as u
        where u.image_id = g.image_id and u.group_id = g.group_id
    )

union all

select u.group_id, u.image_id, 'not a representative' as problem
from {{ ref('unique_images') }} as u
where not exists (
    select 1 from {{ ref('duplicate_groups') }} as g
    where g.image_id = u.image_id and g.group_id = u.group_id and {{ is_true('g.is_representative') }}
)
