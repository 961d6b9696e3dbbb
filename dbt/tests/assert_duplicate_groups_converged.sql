{{ config(meta={'dagster': {'ref': {'name': 'duplicate_groups'}}}) }}
{#-
    The connected-components iteration converged: no link joins two different groups. A failure
    means a chain of duplicates longer than var('dedup_cc_rounds') can resolve: raise it.
-#}
{%- set k = (var('dedup_hash_size') | int) if var('dedup_same_hash_link') else 8 -%}

select
    'near_duplicate' as link,
    p.image_id_a as image_a,
    p.image_id_b as image_b,
    ga.group_id as group_a,
    gb.group_id as group_b
from {{ ref('near_duplicate_pairs') }} as p
inner join {{ ref('duplicate_groups') }} as ga on ga.image_id = p.image_id_a
inner join {{ ref('duplicate_groups') }} as gb on gb.image_id = p.image_id_b
where ga.group_id <> gb.group_id

union all

select
    'border_trimmed' as link,
    p.image_id_a as image_a,
    p.image_id_b as image_b,
    ga.group_id as group_a,
    gb.group_id as group_b
from {{ ref('border_trimmed_pairs') }} as p
inner join {{ ref('duplicate_groups') }} as ga on ga.image_id = p.image_id_a
inner join {{ ref('duplicate_groups') }} as gb on gb.image_id = p.image_id_b
where ga.group_id <> gb.group_id

union all

select
    'same_dhash{{ k }}' as link,
    min(s.image_id) as image_a,
    max(s.image_id) as image_b,
    min(g.group_id) as group_a,
    max(g.group_id) as group_b
from {{ ref('stg_images') }} as s
inner join {{ ref('duplicate_groups') }} as g on g.image_id = s.image_id
-- an image that may not link is its own bucket (unlinkable_id is its image_id)
group by s.dhash{{ k }}_row, s.dhash{{ k }}_col, s.unlinkable_id
having min(g.group_id) <> max(g.group_id)
