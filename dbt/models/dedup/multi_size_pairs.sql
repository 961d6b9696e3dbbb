{#-
    Multi-size near-duplicate links: two images whose size-k hashes (k =
    var('near_duplicate_confirm_size'), 5 by default: 2 x 25 bits) are at most
    var('near_duplicate_confirm_distance') bits apart AND whose size-8 hashes are at most
    var('near_duplicate_loose_threshold') bits apart (the closer of the plain and the
    content-box views, as near_duplicate_pairs and border_trimmed_pairs measure them). A copy
    cropped by a few percent or turned by a degree keeps its coarse picture (the size-5 hash)
    while its size-8 hash moves 12-24 bits; two different photographs that happen to share a
    coarse hash are still far apart at size 8. Each size alone would merge different pictures
    (benchmarks/README.md); the two together do not on the project's benchmark.

    The search is exact and never enumerates all pairs: the pigeonhole band search of
    near_duplicate_band_masks runs over the size-k words (k x k bits each), so at 1 bit of 50
    its keys are 3 unions of two bands of about 33 bits; the size-8 test then filters the
    candidates. Images that share all three hashes (size k, size 8, content box) are collapsed
    first (they share a size-8 hash, so near_duplicate_pairs links them already).

    distance is the size-8 distance of the pair (plain or content box, the closer). Off when
    near_duplicate_confirm_distance < 0 (the model is then empty).
-#}
{%- set k = var('near_duplicate_confirm_size') | int -%}
{%- set confirm = var('near_duplicate_confirm_distance') | int -%}
{%- set loose = var('near_duplicate_loose_threshold') | int -%}
{%- if k < 2 or k > 7 -%}
    {{ exceptions.raise_compiler_error(
        "near_duplicate_confirm_size must be 2..7, got " ~ k) }}
{%- endif -%}
{%- set plain -%}
    {{ hamming_distance('a.dhash8_row', 'a.dhash8_col', 'b.dhash8_row', 'b.dhash8_col') }}
{%- endset -%}
{%- set trimmed -%}
    {{ hamming_distance('a.dhash8_trim_row', 'a.dhash8_trim_col',
                        'b.dhash8_trim_row', 'b.dhash8_trim_col') }}
{%- endset -%}
{#- a null content-box hash (too small or flat a box) leaves the plain distance -#}
{%- set nearest -%}
    case
        when a.dhash8_trim_row is null or b.dhash8_trim_row is null
            or {{ plain }} <= {{ trimmed }} then {{ plain }}
        else {{ trimmed }}
    end
{%- endset -%}

with tuples as (
    -- one row per distinct (size k, size 8, content box) hash tuple, named by its smallest image
    select
        min(image_id) as centre_id,
        dhash{{ k }}_row as coarse_row,
        dhash{{ k }}_col as coarse_col,
        dhash8_row,
        dhash8_col,
        dhash8_trim_row,
        dhash8_trim_col
    from {{ ref('stg_images') }}
    where unlinkable_id is null
        and dhash{{ k }}_row is not null and dhash{{ k }}_col is not null
        and dhash8_row is not null and dhash8_col is not null
        {%- if confirm < 0 %}
        and 1 = 0
        {%- endif %}
    group by
        dhash{{ k }}_row, dhash{{ k }}_col, dhash8_row, dhash8_col, dhash8_trim_row,
        dhash8_trim_col
),

keyed as (
    select row_number() over (order by centre_id) as tuple_key, tuples.*
    from tuples
),

candidates as (
    {%- for row_mask, col_mask in near_duplicate_band_masks(
            [confirm, 0] | max, 2, word_bits=k * k) %}
    select
        a.tuple_key as tuple_key_a,
        b.tuple_key as tuple_key_b,
        {{ nearest }} as distance
    from keyed as a
    inner join keyed as b
        on (a.coarse_row & {{ bigint_literal(row_mask) }})
            = (b.coarse_row & {{ bigint_literal(row_mask) }})
        and (a.coarse_col & {{ bigint_literal(col_mask) }})
            = (b.coarse_col & {{ bigint_literal(col_mask) }})
        and a.tuple_key < b.tuple_key
    where {{ hamming_distance('a.coarse_row', 'a.coarse_col', 'b.coarse_row', 'b.coarse_col') }}
        <= {{ confirm }}
    {%- if not loop.last %}

    union all
    {%- endif %}
    {%- endfor %}
),

tuple_pairs as (
    select distinct tuple_key_a, tuple_key_b, distance
    from candidates
    where distance <= {{ loose }}
)

select
    a.centre_id as image_id_a,
    b.centre_id as image_id_b,
    p.distance
from tuple_pairs as p
inner join keyed as a on a.tuple_key = p.tuple_key_a
inner join keyed as b on b.tuple_key = p.tuple_key_b
