{#-
    Pairs of images whose size-8 hashes are at most var('near_duplicate_threshold') bits apart.

    Candidates come from exact matches on one of the keys of near_duplicate_band_masks (unions of
    bit bands: by pigeonhole every pair within the threshold matches on at least one key), one
    hash join per key, so the work grows with the number of matching pairs, not with all N^2
    pairs. The exact distance then keeps the true pairs; a pair that matches on several keys is
    kept once.
-#}
{%- set threshold = var('near_duplicate_threshold') | int -%}
{%- set masks = near_duplicate_band_masks(threshold, var('near_duplicate_band_agreement') | int) -%}

with hashed as (
    select image_key, image_id, dhash8_row, dhash8_col
    from {{ ref('stg_images') }}
),

candidates as (
    {%- for row_mask, col_mask in masks %}
    select
        a.image_key as image_key_a,
        b.image_key as image_key_b,
        {{ hamming_distance('a.dhash8_row', 'a.dhash8_col', 'b.dhash8_row', 'b.dhash8_col') }}
            as distance
    from hashed as a
    inner join hashed as b
        on (a.dhash8_row & {{ bigint_literal(row_mask) }})
            = (b.dhash8_row & {{ bigint_literal(row_mask) }})
        and (a.dhash8_col & {{ bigint_literal(col_mask) }})
            = (b.dhash8_col & {{ bigint_literal(col_mask) }})
        and a.image_key < b.image_key
    {%- if not loop.last %}

    union all
    {%- endif %}
    {%- endfor %}
),

pairs as (
    select distinct image_key_a, image_key_b, distance
    from candidates
    where distance <= {{ threshold }}
)

select
    a.image_id as image_id_a,
    b.image_id as image_id_b,
    p.distance
from pairs as p
inner join hashed as a on a.image_key = p.image_key_a
inner join hashed as b on b.image_key = p.image_key_b
