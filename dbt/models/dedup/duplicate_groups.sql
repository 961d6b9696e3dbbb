{#-
    One row per image: its duplicate group, whether it is the group's representative (the copy
    kept), and why every other member was dropped. Nothing is deleted: dropping is this row.

    Groups are the connected components of three kinds of links:
      * equal size-k hashes (k = var('dedup_hash_size'), the lab's DHashHex3 rule, compared on
        the integer row and column hashes because the lab's hex strings are ambiguous) when
        var('dedup_same_hash_link') is on; off (the default), equal size-8 hashes;
      * near_duplicate_pairs (size-8 hashes within var('near_duplicate_threshold') bits);
      * border_trimmed_pairs (content-box hashes within var('near_duplicate_trim_threshold')
        bits: the same picture with padding or letterbox bars);
      * multi_size_pairs (size-5 hashes within var('near_duplicate_confirm_distance') bits or
        size-7 hashes within var('near_duplicate_fine_distance'), and size-8 hashes within
        var('near_duplicate_loose_threshold'): small crops and rotations).
    Images that may take no hash link (stg_images.unlinkable_id: blank, flat, tiny) are a
    bucket of their own and in no link model, so they always stay alone.
    Images with equal hashes are collapsed first (each hash bucket is represented by its
    smallest image), so only links between different buckets go through the iteration.
    near_duplicate_pairs is a star per size-8 hash plus pairs of hash centres (linear in the
    images), which also yields every image's closest near-duplicate for the reasons.

    Another link (a second hash): a model calling hash_link_model, listed in dedup_link_models;
    bucket_links (the components' edges, a table of its own), the reasons here and the
    convergence test take every link from there.

    Incremental refresh (var dedup_since): with additions only, groups merge and never split, and
    every new or moved link lies inside the new group of a changed image (a link model's new rows
    touch a changed image or its hash's centre, which is linked to it). So the rows that can
    change are exactly the members of the groups that now hold a changed image: those are decided
    (components over every bucket link, cheap from the table; keep rule, ranks, reasons within
    the groups) and replace their old rows (delete+insert on image_id); no other row changes.

    Keep rule (the lab's): largest width, then largest height; ties go to the larger file, then
    to the smallest image_id.
-#}
{%- set k = dedup_bucket_size() -%}
{%- set threshold = var('near_duplicate_threshold') | int -%}
{%- set trim_threshold = var('near_duplicate_trim_threshold') | int -%}
{%- set rounds = var('dedup_cc_rounds') | int -%}
{%- set same_hash = 'same_dhash' ~ k -%}
{%- set incremental = dedup_incremental() -%}
{%- set keep_order -%}
    coalesce(width, -1) desc, coalesce(height, -1) desc, coalesce(byte_size, -1) desc, image_id
{%- endset -%}
{{ config(
    materialized=dedup_materialized(),
    unique_key='image_id',
    incremental_strategy='delete+insert',
) }}

{{ with_recursive() }} hashed as (
    {{ dedup_buckets() }}
),

images as (
    select
        hashed.*,
        -- what the bucket's smallest image names when it was dropped for its equal hash
        min(case when image_id <> bucket_first_id then image_id end)
            over (partition by bucket_key) as bucket_second_id
    from hashed
),

{{ connected_components_ctes(ref('bucket_links'), rounds, prefix='components') }},

grouped as (
    select
        i.*,
        coalesce(c.component, i.bucket_key) as group_key
    from images as i
    left join components_labels as c on c.node = i.bucket_key
),
{%- if incremental %}

decided_images as (
    -- the members of every group that now holds an image catalogued or hashed after the marks
    select g.*
    from grouped as g
    where g.group_key in (
        select changed.group_key
        from grouped as changed
        where changed.image_id in ({{ changed_image_ids() }})
    )
),
{%- else %}

decided_images as (
    select * from grouped
),
{%- endif %}

links as (
    {{ dedup_links() }}
),

pair_ends as (
    -- every link seen from both of its images (a link never leaves a group, so both ends of a
    -- decided image's links are decided)
    select
        case when ends.side = 0 then a.image_key else b.image_key end as image_key,
        case when ends.side = 0 then b.image_id else a.image_id end as neighbour_id,
        p.distance,
        p.link
    from links as p
    inner join decided_images as a on a.image_id = p.image_id_a
    inner join decided_images as b on b.image_id = p.image_id_b
    cross join (values (0), (1)) as ends(side)
),

ranked as (
    select
        decided_images.*,
        min(image_id) over (partition by group_key) as group_id,
        count(*) over (partition by group_key) as group_size,
        row_number() over (partition by group_key order by {{ keep_order }}) as rank_in_group,
        first_value(image_id) over (partition by group_key order by {{ keep_order }})
            as representative_image_id,
        first_value(bucket_key) over (partition by group_key order by {{ keep_order }})
            as representative_bucket_key,
        first_value(dhash8_row) over (partition by group_key order by {{ keep_order }})
            as representative_dhash8_row,
        first_value(dhash8_col) over (partition by group_key order by {{ keep_order }})
            as representative_dhash8_col,
        first_value(dhash8_trim_row) over (partition by group_key order by {{ keep_order }})
            as representative_dhash8_trim_row,
        first_value(dhash8_trim_col) over (partition by group_key order by {{ keep_order }})
            as representative_dhash8_trim_col
    from decided_images
),

nearest_neighbour as (
    -- an image's closest near-duplicate (ties: smallest image_id, then the plain link), named
    -- when it is dropped only transitively
    select image_key, neighbour_id, distance, link
    from (
        select
            image_key,
            neighbour_id,
            distance,
            link,
            row_number() over (
                partition by image_key order by distance, neighbour_id, link desc
            ) as nearness
        from pair_ends
    ) as ordered
    where nearness = 1
),

measured as (
    select
        r.*,
        {{ hamming_distance('r.dhash8_row', 'r.dhash8_col',
                            'r.representative_dhash8_row', 'r.representative_dhash8_col') }}
            as distance_to_representative,
        {{ hamming_distance('r.dhash8_trim_row', 'r.dhash8_trim_col',
                            'r.representative_dhash8_trim_row',
                            'r.representative_dhash8_trim_col') }}
            as trim_distance_to_representative,
        n.neighbour_id,
        n.distance as neighbour_distance,
        n.link as neighbour_link
    from ranked as r
    left join nearest_neighbour as n on n.image_key = r.image_key
),

decided as (
    select
        measured.*,
        case
            when rank_in_group = 1 and group_size = 1 then 'unique'
            when rank_in_group = 1 then 'representative'
            when bucket_key = representative_bucket_key then '{{ same_hash }}'
            when distance_to_representative <= {{ threshold }} then 'near_duplicate'
            when trim_distance_to_representative <= {{ trim_threshold }} then 'border_trimmed'
            when neighbour_link = 'multi_size' and neighbour_id = representative_image_id
                then 'multi_size'
            else 'transitive'
        end as reason_code,
        case
            when rank_in_group = 1 then null
            when bucket_key = representative_bucket_key then representative_image_id
            when distance_to_representative <= {{ threshold }} then representative_image_id
            when trim_distance_to_representative <= {{ trim_threshold }}
                then representative_image_id
            when neighbour_id is not null then neighbour_id
            when image_id = bucket_first_id then bucket_second_id
            else bucket_first_id
        end as linked_image_id
    from measured
)

select
    image_id,
    group_id,
    group_size,
    {{ bool_expr('rank_in_group = 1') }} as is_representative,
    representative_image_id,
    rank_in_group,
    reason_code,
    case reason_code
        when 'unique' then 'kept: no duplicate'
        when 'representative' then
            concat('kept: largest of ', {{ to_text('group_size') }}, ' duplicates')
        when '{{ same_hash }}' then concat('{{ same_hash }} as ', linked_image_id)
        when 'near_duplicate' then
            concat(
                'near_duplicate (distance ', {{ to_text('distance_to_representative') }},
                ') of ', linked_image_id
            )
        when 'border_trimmed' then
            concat(
                'border_trimmed (distance ', {{ to_text('trim_distance_to_representative') }},
                ') of ', linked_image_id
            )
        when 'multi_size' then
            concat(
                'multi_size (distance ', {{ to_text('neighbour_distance') }},
                ') of ', linked_image_id
            )
        else
            concat(
                'transitive duplicate of ', representative_image_id, ': ',
                case
                    when neighbour_id is not null then
                        concat(
                            neighbour_link, ' (distance ', {{ to_text('neighbour_distance') }},
                            ') of '
                        )
                    else '{{ same_hash }} as '
                end,
                linked_image_id
            )
    end as reason,
    linked_image_id,
    distance_to_representative,
    label,
    width,
    height,
    byte_size,
    format,
    source_uri
from decided
