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
      * multi_size_pairs (size-5 hashes within var('near_duplicate_confirm_distance') bits and
        size-8 hashes within var('near_duplicate_loose_threshold'): small crops and rotations).
    Images that may take no hash link (stg_images.unlinkable_id: blank, flat, tiny) are a
    bucket of their own and in no link model, so they always stay alone.
    Images with equal hashes are collapsed first (each hash bucket is represented by its
    smallest image), so only links between different buckets go through the iteration.
    near_duplicate_pairs is a star per size-8 hash plus pairs of hash centres (linear in the
    images), which also yields every image's closest near-duplicate for the reasons.

    Another link (a second hash): build its links with the macro near_duplicate_links as a model
    of the same shape (image_id_a, image_id_b, distance) and add it to pair_ends (union all);
    bucket_edges, the components and the convergence test take every link from there.

    Keep rule (the lab's): largest width, then largest height; ties go to the larger file, then
    to the smallest image_id.
-#}
{%- set k = (var('dedup_hash_size') | int) if var('dedup_same_hash_link') else 8 -%}
{%- set threshold = var('near_duplicate_threshold') | int -%}
{%- set trim_threshold = var('near_duplicate_trim_threshold') | int -%}
{%- set rounds = var('dedup_cc_rounds') | int -%}
{%- set same_hash = 'same_dhash' ~ k -%}
{%- set keep_order -%}
    coalesce(width, -1) desc, coalesce(height, -1) desc, coalesce(byte_size, -1) desc, image_id
{%- endset -%}

{{ with_recursive() }} hashed as (
    select
        image_key,
        image_id,
        label,
        width,
        height,
        byte_size,
        format,
        source_uri,
        dhash8_row,
        dhash8_col,
        dhash8_trim_row,
        dhash8_trim_col,
        -- image_key is ordered like image_id, so the smallest key is the smallest image_id; an
        -- image that may not link is a bucket of its own (unlinkable_id is its image_id)
        min(image_key) over (
            partition by dhash{{ k }}_row, dhash{{ k }}_col, unlinkable_id
        ) as bucket_key,
        min(image_id) over (
            partition by dhash{{ k }}_row, dhash{{ k }}_col, unlinkable_id
        ) as bucket_first_id
    from {{ ref('stg_images') }}
),

images as (
    select
        hashed.*,
        -- what the bucket's smallest image names when it was dropped for its equal hash
        min(case when image_id <> bucket_first_id then image_id end)
            over (partition by bucket_key) as bucket_second_id
    from hashed
),

links as (
    select image_id_a, image_id_b, distance, 'near_duplicate' as link
    from {{ ref('near_duplicate_pairs') }}
    union all
    select image_id_a, image_id_b, distance, 'border_trimmed' as link
    from {{ ref('border_trimmed_pairs') }}
    union all
    select image_id_a, image_id_b, distance, 'multi_size' as link
    from {{ ref('multi_size_pairs') }}
),

pair_ends as (
    -- every link seen from both of its images
    select
        case when ends.side = 0 then a.image_key else b.image_key end as image_key,
        case when ends.side = 0 then a.bucket_key else b.bucket_key end as bucket_key,
        case when ends.side = 0 then b.image_id else a.image_id end as neighbour_id,
        case when ends.side = 0 then b.bucket_key else a.bucket_key end as neighbour_bucket_key,
        p.distance,
        p.link
    from links as p
    inner join images as a on a.image_id = p.image_id_a
    inner join images as b on b.image_id = p.image_id_b
    cross join (values (0), (1)) as ends(side)
),

bucket_edges as (
    select distinct
        bucket_key as node_lo,
        neighbour_bucket_key as node_hi
    from pair_ends
    where bucket_key < neighbour_bucket_key
),

{{ connected_components_ctes('bucket_edges', rounds, prefix='components') }},

grouped as (
    select
        i.*,
        coalesce(c.component, i.bucket_key) as group_key
    from images as i
    left join components_labels as c on c.node = i.bucket_key
),

ranked as (
    select
        grouped.*,
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
    from grouped
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
