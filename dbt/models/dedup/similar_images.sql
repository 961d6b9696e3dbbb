{#-
    The lab's review set: pairs of images that the coarse rule groups together (equal size-k
    hashes, k = var('dedup_hash_size'), compared as integers) although their size-8 hashes
    differ. Reviewers look at these to judge whether the coarse rule merges different pictures.

    Every pair of a hash bucket is listed, except in buckets larger than
    var('similar_images_max_bucket_size'): there each image is paired only with the bucket's
    smallest image_id, so one hot bucket (thousands of blank or near-uniform pictures share a
    coarse hash) adds n rows instead of n^2 / 2.

    Incremental refresh (var dedup_since): every row lies inside one size-k bucket and depends
    only on that bucket's members, so the pre-hook deletes the rows of the buckets that hold a
    changed image and the model appends those buckets' rows afresh; no other row can change.
-#}
{{ config(
    materialized=dedup_materialized(),
    incremental_strategy='append',
    pre_hook=similar_images_pre_hook(),
) }}
{%- set k = var('dedup_hash_size') | int -%}
{%- set threshold = var('near_duplicate_threshold') | int -%}
{%- set max_bucket = var('similar_images_max_bucket_size') | int -%}

with images as (
    select
        image_id,
        label,
        width,
        height,
        source_uri,
        dhash{{ k }}_row as bucket_row,
        dhash{{ k }}_col as bucket_col,
        dhash8_row,
        dhash8_col,
        count(*) over (partition by dhash{{ k }}_row, dhash{{ k }}_col) as bucket_size,
        min(image_id) over (partition by dhash{{ k }}_row, dhash{{ k }}_col) as bucket_first_id
    from {{ ref('stg_images') }}
    {%- if dedup_incremental() %}
    -- every member of the buckets that hold a changed image (whole buckets: sizes, first ids)
    where image_id in ({{ _members_of_changed_hashes(ref('stg_images'), 'dhash' ~ k ~ '_row',
                                                     'dhash' ~ k ~ '_col', changed_image_ids(),
                                                     'image_id') }})
    {%- endif %}
),

bucket_pairs as (
    -- buckets up to max_bucket images: every pair
    select a.*, b.image_id as b_image_id, b.label as b_label, b.width as b_width,
        b.height as b_height, b.source_uri as b_source_uri, b.dhash8_row as b_dhash8_row,
        b.dhash8_col as b_dhash8_col
    from images as a
    inner join images as b
        on b.bucket_row = a.bucket_row
        and b.bucket_col = a.bucket_col
        and a.image_id < b.image_id
    where a.bucket_size <= {{ max_bucket }} and b.bucket_size <= {{ max_bucket }}

    union all

    -- larger buckets: every image with the bucket's first image only, so a bucket of n images
    -- is joined n times, not n^2 / 2 times and filtered afterwards
    select a.*, b.image_id as b_image_id, b.label as b_label, b.width as b_width,
        b.height as b_height, b.source_uri as b_source_uri, b.dhash8_row as b_dhash8_row,
        b.dhash8_col as b_dhash8_col
    from images as a
    inner join images as b
        on b.bucket_row = a.bucket_row
        and b.bucket_col = a.bucket_col
        and a.image_id < b.image_id
    where a.bucket_size > {{ max_bucket }} and a.image_id = a.bucket_first_id
        and b.bucket_size > {{ max_bucket }}
),

pairs as (
    select
        image_id as image_id_a,
        b_image_id as image_id_b,
        {{ hamming_distance('dhash8_row', 'dhash8_col', 'b_dhash8_row', 'b_dhash8_col') }}
            as distance,
        label as label_a,
        b_label as label_b,
        width as width_a,
        height as height_a,
        b_width as width_b,
        b_height as height_b,
        source_uri as source_uri_a,
        b_source_uri as source_uri_b,
        bucket_size
    from bucket_pairs
    where dhash8_row <> b_dhash8_row or dhash8_col <> b_dhash8_col
)

select
    pairs.*,
    {{ bool_expr('distance <= ' ~ threshold) }} as is_near_duplicate
from pairs
