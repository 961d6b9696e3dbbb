{#-
    Edge-cut links: an image whose area hash (stg_images.dhash8_area_*: the size-8 difference
    hash of its whole content box, resampled by area means) is at most
    var('near_duplicate_cut_threshold') bits from a cut hash of another image
    (dhash8_cut_{top,bottom,left,right}_*: the same hash of that image's box with a strip of 5 %
    cut off one side; assets/hashing/engine.py PROBES). That is a copy with a caption strip or a
    watermark cropped off one side: its whole picture is the original's picture without the
    strip. Such a copy is stretched against its photo, so its size-8 hash moves 18-36 bits (as
    far as neighbouring tiles of one photo), while it is 0-4 bits from the right cut hash; on
    the project's benchmark (benchmarks/README.md) different pictures stay 9 or more apart.
    Two cut hashes are never compared with each other: two pictures that share 95 % of their
    area but not the rest are not copies.

    Exact pigeonhole search, never all pairs: the area hashes are collapsed to distinct values
    first (each named by its smallest image; images sharing an area hash are a star around it,
    distance 0, as near_duplicate_pairs does with size-8 hashes), then each band key of
    near_duplicate_band_masks joins the distinct area values with every image's cut hashes,
    and the exact distance decides. Images without an area hash (too flat) and images that may
    take no hash link (stg_images.unlinkable_id) are left out; a flat cut hash is null and
    links nothing. One row per image pair (image_id_a < image_id_b), with the smallest distance.

    Incremental refresh (var dedup_since): the pre-hook deletes every row with an end in
    `touched`: the changed images and every image sharing an area hash with one (a centre may
    have moved). Every row of a full build with an end there is then rebuilt: the stars of the
    area values of changed images, and the band search from those values against every cut
    hash plus from every area value against the cut hashes of touched images. Every new row
    has an end in `touched`, so the table equals a full build's. -1 turns the link off.
-#}
{%- set threshold = var('near_duplicate_cut_threshold') | int -%}
{%- set sides = ['top', 'bottom', 'left', 'right'] -%}
{%- set incremental = dedup_incremental() -%}
{{ config(
    materialized=dedup_materialized(),
    incremental_strategy='append',
    pre_hook=edge_cut_pre_hook(),
) }}

with linkable as (
    {{ edge_cut_linkable() }}
),

{%- if incremental %}

touched as (
    -- the changed images and the images sharing an area hash with one
    {{ edge_cut_touched() }}
),
{%- endif %}

areas as (
    -- one row per distinct area hash, named by its smallest image
    select
        min(image_id) as centre_id,
        dhash8_area_row as hash_row,
        dhash8_area_col as hash_col
    from linkable
    group by dhash8_area_row, dhash8_area_col
),

cuts as (
    {%- for side in sides %}
    select image_id, dhash8_cut_{{ side }}_row as hash_row, dhash8_cut_{{ side }}_col as hash_col
    from linkable
    where dhash8_cut_{{ side }}_row is not null and dhash8_cut_{{ side }}_col is not null
    {%- if not loop.last %}

    union all
    {%- endif %}
    {%- endfor %}
),

{%- if incremental %}

searched_areas as (
    select a.* from areas as a where a.centre_id in (select image_id from touched)
),

searched_cuts as (
    select c.* from cuts as c where c.image_id in (select image_id from touched)
),
{%- endif %}

candidates as (
    {%- set pairs = [('areas', 'cuts')] if not incremental
        else [('searched_areas', 'cuts'), ('areas', 'searched_cuts')] %}
    {%- for area_relation, cut_relation in pairs %}
    {%- set outer = loop %}
    {%- for row_mask, col_mask in near_duplicate_band_masks(
        [threshold, 0] | max, var('near_duplicate_band_agreement') | int) %}
    select
        a.centre_id,
        c.image_id as cut_id,
        {{ hamming_distance('a.hash_row', 'a.hash_col', 'c.hash_row', 'c.hash_col') }}
            as distance
    from {{ area_relation }} as a
    inner join {{ cut_relation }} as c
        on (a.hash_row & {{ bigint_literal(row_mask) }})
            = (c.hash_row & {{ bigint_literal(row_mask) }})
        and (a.hash_col & {{ bigint_literal(col_mask) }})
            = (c.hash_col & {{ bigint_literal(col_mask) }})
        and a.centre_id <> c.image_id
    {%- if not (loop.last and outer.last) %}

    union all
    {%- endif %}
    {%- endfor %}
    {%- endfor %}
),

links as (
    -- copies of one area hash: a star around its centre
    select a.centre_id as image_id_a, i.image_id as image_id_b, 0 as distance
    from linkable as i
    inner join areas as a
        on a.hash_row = i.dhash8_area_row and a.hash_col = i.dhash8_area_col
    where i.image_id <> a.centre_id
    {%- if incremental %}
        and i.image_id in (select image_id from touched)
    {%- endif %}

    union all

    -- an area hash within the threshold of another image's cut hash
    select
        case when centre_id < cut_id then centre_id else cut_id end as image_id_a,
        case when centre_id < cut_id then cut_id else centre_id end as image_id_b,
        distance
    from candidates
    where distance <= {{ threshold }}
)

select image_id_a, image_id_b, min(distance) as distance
from links
group by image_id_a, image_id_b
