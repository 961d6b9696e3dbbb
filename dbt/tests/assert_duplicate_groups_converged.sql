{{ config(meta={'dagster': {'ref': {'name': 'duplicate_groups'}}}) }}
{#-
    The connected-components iteration converged: no link of any link model (dedup_link_models)
    and no equal size-k hash joins two different groups. A failure means a chain of duplicates
    longer than var('dedup_cc_rounds') can resolve (raise it), or an incremental refresh that
    missed a merge.
-#}
{%- set k = dedup_bucket_size() -%}

with links as (
    {{ dedup_links() }}
)

select
    p.link,
    p.image_id_a as image_a,
    p.image_id_b as image_b,
    ga.group_id as group_a,
    gb.group_id as group_b
from links as p
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
