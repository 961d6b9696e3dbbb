{{ config(meta={'dagster': {'ref': {'name': 'duplicate_groups'}}}) }}
{#-
    The connected-components iteration converged: no link of any link model (dedup_link_models)
    and no equal size-k hash joins two different groups. A failure means a chain of duplicates
    longer than var('dedup_cc_rounds') can resolve (raise it), or an incremental refresh that
    missed a merge.

    Incremental refresh (var dedup_since): only the links with an end among the rows the refresh
    wrote, and the buckets holding such a row, are checked, which finds every violation the
    refresh can have made. The rows it wrote are those of the groups that hold a changed image
    (dedup_written_group_rows); every other row, and every link between two of them that the
    previous refresh saw, is as that refresh left and checked it. A link row it did not see
    touches a changed image, or its hash's centre, which a star row joins to the changed image:
    either that link, or the star row, has a written end, and is checked. A bucket none of whose
    images was written gained no image (new images are changed ones) and lost none.

    The written rows are whole groups (every row of those group_ids), so a checked link or
    bucket with an end outside them joins two groups: it is a violation without looking that
    end's group up. The links and the buckets are therefore joined to the written rows only,
    never to the whole table (1M heavily duplicated images, a 500-image batch rewriting 186k
    rows: about 0.6 s instead of 0.9 s).
-#}
{%- set k = dedup_bucket_size() -%}
{%- set incremental = dedup_incremental() -%}

with links as (
    {{ dedup_links() }}
),
{%- if incremental %}

written as (
    {{ dedup_written_group_rows() }}
),

checked_links as (
    -- each link with a written end, with the written groups of its ends (null: not written)
    select
        p.link,
        p.image_id_a,
        p.image_id_b,
        wa.group_id as group_a,
        wb.group_id as group_b
    from links as p
    left join written as wa on wa.image_id = p.image_id_a
    left join written as wb on wb.image_id = p.image_id_b
    where wa.image_id is not null or wb.image_id is not null
)

select link, image_id_a as image_a, image_id_b as image_b, group_a, group_b
from checked_links
where group_a is null or group_b is null or group_a <> group_b

union all

-- every bucket holding a written row: all of its images written, in one group
select
    'same_dhash{{ k }}' as link,
    min(s.image_id) as image_a,
    max(s.image_id) as image_b,
    min(w.group_id) as group_a,
    max(w.group_id) as group_b
from {{ ref('stg_images') }} as s
left join written as w on w.image_id = s.image_id
-- an image that may not link is its own bucket (unlinkable_id is its image_id)
group by s.dhash{{ k }}_row, s.dhash{{ k }}_col, s.unlinkable_id
having count(w.image_id) > 0
    and (count(w.image_id) < count(*) or min(w.group_id) <> max(w.group_id))
{%- else %}

checked_links as (
    select * from links
),

checked_images as (
    select image_id, dhash{{ k }}_row, dhash{{ k }}_col, unlinkable_id
    from {{ ref('stg_images') }}
)

select
    p.link,
    p.image_id_a as image_a,
    p.image_id_b as image_b,
    ga.group_id as group_a,
    gb.group_id as group_b
from checked_links as p
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
from checked_images as s
inner join {{ ref('duplicate_groups') }} as g on g.image_id = s.image_id
-- an image that may not link is its own bucket (unlinkable_id is its image_id)
group by s.dhash{{ k }}_row, s.dhash{{ k }}_col, s.unlinkable_id
having min(g.group_id) <> max(g.group_id)
{%- endif %}
