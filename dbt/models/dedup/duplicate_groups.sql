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
        var('near_duplicate_loose_threshold'): small crops and rotations);
      * centre_pairs (hashes of the central 80 % of the content box within
        var('near_duplicate_centre_threshold') bits: slight rotations);
      * edge_cut_pairs (an area hash within var('near_duplicate_cut_threshold') bits of another
        image's hash with a 5 % strip cut off one side: one-sided crops).
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
    (keep rule, ranks, reasons within the groups) and replace their old rows (delete+insert on
    image_id); no other row changes. Only those images are read: the changed images' buckets
    (their hash values' smallest image_key), their groups (components over every bucket link,
    cheap from the table), every bucket of those groups (the image whose image_key is the
    bucket's key carries its hash value), and the images with those values; the bucket windows
    then run over whole buckets, as in a full build (1M images: 0.6 s instead of 3.2 s).

    An image's nearest link is read only where its reason needs it (a member dropped neither for
    its equal hash nor within a threshold of the representative): in heavily duplicated groups
    almost no member does, and every link of the collection otherwise went through a window.

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

{{ with_recursive() }}
{%- if incremental %}
changed_buckets as (
    -- the bucket of every changed image: the smallest image_key of its equal hash value (as in
    -- dedup_buckets), read from the images with that value only
    select min(s.image_key) as bucket_key
    from {{ ref('stg_images') }} as s
    inner join (
        select distinct
            c.dhash{{ k }}_row as bucket_row,
            c.dhash{{ k }}_col as bucket_col,
            c.unlinkable_id as bucket_unlinkable_id
        from {{ ref('stg_images') }} as c
        where c.image_id in ({{ changed_image_ids() }})
    ) as v on {{ dedup_bucket_match('s', 'v') }}
    group by v.bucket_row, v.bucket_col, v.bucket_unlinkable_id
),

{{ connected_components_ctes(ref('bucket_links'), rounds, prefix='components') }},

node_groups as (
    -- every bucket with a link, and every changed bucket, with its group (a bucket without a
    -- link is a group of its own) and whether it is a changed one
    select
        coalesce(c.node, b.bucket_key) as bucket_key,
        coalesce(c.component, b.bucket_key) as group_key,
        case when b.bucket_key is null then 0 else 1 end as is_changed
    from components_labels as c
    full outer join changed_buckets as b on b.bucket_key = c.node
),

decided_buckets as (
    -- every bucket of the groups that now hold a changed image, by its hash value (the image
    -- whose image_key is the bucket's key has it); one window, so the components are read once
    select
        s.dhash{{ k }}_row as bucket_row,
        s.dhash{{ k }}_col as bucket_col,
        s.unlinkable_id as bucket_unlinkable_id,
        g.group_key
    from (
        select bucket_key, group_key, max(is_changed) over (partition by group_key) as changed_group
        from node_groups
    ) as g
    inner join {{ ref('stg_images') }} as s on s.image_key = g.bucket_key
    where g.changed_group = 1
),

hashed as (
    -- the images of those buckets, whole buckets, so the bucket windows equal a full build's
    {{ dedup_buckets(only='decided_buckets', with_group=true) }}
),

decided_images as (
    select
        hashed.*,
        -- what the bucket's smallest image names when it was dropped for its equal hash
        min(case when image_id <> bucket_first_id then image_id end)
            over (partition by bucket_key) as bucket_second_id
    from hashed
),
{%- else %}
hashed as (
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

decided_images as (
    select
        i.*,
        coalesce(c.component, i.bucket_key) as group_key
    from images as i
    left join components_labels as c on c.node = i.bucket_key
),
{%- endif %}

links as (
    {{ dedup_links() }}
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

measured as (
    select
        r.*,
        {{ hamming_distance('r.dhash8_row', 'r.dhash8_col',
                            'r.representative_dhash8_row', 'r.representative_dhash8_col') }}
            as distance_to_representative,
        {{ hamming_distance('r.dhash8_trim_row', 'r.dhash8_trim_col',
                            'r.representative_dhash8_trim_row',
                            'r.representative_dhash8_trim_col') }}
            as trim_distance_to_representative
    from ranked as r
),

settled as (
    -- the reason when it does not depend on the image's nearest link (null: it does)
    select
        measured.*,
        case
            when rank_in_group = 1 and group_size = 1 then 'unique'
            when rank_in_group = 1 then 'representative'
            when bucket_key = representative_bucket_key then '{{ same_hash }}'
            when distance_to_representative <= {{ threshold }} then 'near_duplicate'
            when trim_distance_to_representative <= {{ trim_threshold }} then 'border_trimmed'
        end as settled_reason
    from measured
),

unsettled as (
    select image_key, image_id from settled where settled_reason is null
),

unsettled_links as (
    -- the links of those images (a link never leaves a group: both ends are decided)
    select p.image_id_a, p.image_id_b, p.distance, p.link
    from links as p
    where p.image_id_a in (select image_id from unsettled)
        or p.image_id_b in (select image_id from unsettled)
),

pair_ends as (
    -- each such link seen from its unsettled image(s)
    select
        u.image_key,
        case when ends.side = 0 then p.image_id_b else p.image_id_a end as neighbour_id,
        p.distance,
        p.link
    from unsettled_links as p
    cross join (values (0), (1)) as ends(side)
    inner join unsettled as u
        on u.image_id = case when ends.side = 0 then p.image_id_a else p.image_id_b end
),

nearest_neighbour as (
    -- an unsettled image's closest near-duplicate (ties: smallest image_id, then the plain
    -- link), named when it is dropped only transitively
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

decided as (
    select
        s.*,
        n.neighbour_id,
        n.distance as neighbour_distance,
        n.link as neighbour_link,
        coalesce(
            s.settled_reason,
            case
                when n.link in ('multi_size', 'centre', 'edge_cut')
                    and n.neighbour_id = s.representative_image_id
                    then n.link
                else 'transitive'
            end
        ) as reason_code,
        case
            when s.rank_in_group = 1 then null
            when s.settled_reason is not null then s.representative_image_id
            when n.neighbour_id is not null then n.neighbour_id
            when s.image_id = s.bucket_first_id then s.bucket_second_id
            else s.bucket_first_id
        end as linked_image_id
    from settled as s
    left join nearest_neighbour as n on n.image_key = s.image_key
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
        when 'centre' then
            concat(
                'centre (distance ', {{ to_text('neighbour_distance') }},
                ') of ', linked_image_id
            )
        when 'edge_cut' then
            concat(
                'edge_cut (distance ', {{ to_text('neighbour_distance') }},
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
