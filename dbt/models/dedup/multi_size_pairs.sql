{#-
    Multi-size near-duplicate links: two images whose coarse hashes nearly agree AND whose size-8
    hashes are at most var('near_duplicate_loose_threshold') bits apart (the closer of the plain
    and the content-box views, as near_duplicate_pairs and border_trimmed_pairs measure them).
    The coarse agreement is either of two rules:

      * size-k hashes (k = var('near_duplicate_confirm_size'), 5 by default: 2 x 25 bits) at
        most var('near_duplicate_confirm_distance') bits apart (1 by default);
      * size-f hashes (f = var('near_duplicate_fine_size'), 7 by default: 2 x 49 bits) at most
        var('near_duplicate_fine_distance') bits apart (4 by default).

    A copy cropped by a few percent or turned by a degree keeps its coarse picture while its
    size-8 hash moves 12-24 bits; two different photographs that happen to share a coarse hash
    are still far apart at size 8. Each size alone would merge different pictures
    (benchmarks/README.md); the coarse and size-8 tests together do not on the project's
    benchmark.

    The search is exact and never enumerates all pairs: for each rule the pigeonhole band search
    of near_duplicate_band_masks (agreement 2) runs over its coarse words, so at 1 bit of 50 its
    keys are 3 unions of two bands of about 33 bits, at 4 bits of 98 15 keys of 33 bits; the
    size-8 test then filters the candidates. Images that share all their hashes (the coarse
    sizes, size 8, content box) are collapsed first (they share a size-8 hash, so
    near_duplicate_pairs links them already).

    distance is the size-8 distance of the pair (plain or content box, the closer). A rule is
    off when its distance is < 0; with both off the model is empty.
-#}
{%- set k = var('near_duplicate_confirm_size') | int -%}
{%- set confirm = var('near_duplicate_confirm_distance') | int -%}
{%- set f = var('near_duplicate_fine_size') | int -%}
{%- set fine = var('near_duplicate_fine_distance') | int -%}
{%- set loose = var('near_duplicate_loose_threshold') | int -%}
{%- for name, size in [('near_duplicate_confirm_size', k), ('near_duplicate_fine_size', f)] -%}
    {%- if size < 2 or size > 7 -%}
        {{ exceptions.raise_compiler_error(name ~ " must be 2..7, got " ~ size) }}
    {%- endif -%}
{%- endfor -%}
{#- (size, words' columns, distance) of each coarse rule that is on -#}
{%- set rules = [] -%}
{%- if confirm >= 0 -%}
    {%- do rules.append((k, 'coarse', confirm)) -%}
{%- endif -%}
{%- if fine >= 0 -%}
    {%- do rules.append((f, 'fine', fine)) -%}
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
    -- one row per distinct (size k, size f, size 8, content box) hash tuple, named by its
    -- smallest image
    select
        min(image_id) as centre_id,
        dhash{{ k }}_row as coarse_row,
        dhash{{ k }}_col as coarse_col,
        dhash{{ f }}_row as fine_row,
        dhash{{ f }}_col as fine_col,
        dhash8_row,
        dhash8_col,
        dhash8_trim_row,
        dhash8_trim_col
    from {{ ref('stg_images') }}
    where unlinkable_id is null
        and dhash8_row is not null and dhash8_col is not null
        {%- if not rules %}
        and 1 = 0
        {%- endif %}
    group by
        dhash{{ k }}_row, dhash{{ k }}_col, dhash{{ f }}_row, dhash{{ f }}_col, dhash8_row,
        dhash8_col, dhash8_trim_row, dhash8_trim_col
),

keyed as (
    select row_number() over (order by centre_id) as tuple_key, tuples.*
    from tuples
),

candidates as (
    {%- for size, words, distance in rules %}
    {%- set outer = loop %}
    {%- for row_mask, col_mask in near_duplicate_band_masks(distance, 2, word_bits=size * size) %}
    select
        a.tuple_key as tuple_key_a,
        b.tuple_key as tuple_key_b,
        {{ nearest }} as distance
    from keyed as a
    inner join keyed as b
        on (a.{{ words }}_row & {{ bigint_literal(row_mask) }})
            = (b.{{ words }}_row & {{ bigint_literal(row_mask) }})
        and (a.{{ words }}_col & {{ bigint_literal(col_mask) }})
            = (b.{{ words }}_col & {{ bigint_literal(col_mask) }})
        and a.tuple_key < b.tuple_key
    where {{ hamming_distance('a.' ~ words ~ '_row', 'a.' ~ words ~ '_col',
                              'b.' ~ words ~ '_row', 'b.' ~ words ~ '_col') }} <= {{ distance }}
    {%- if not (loop.last and outer.last) %}

    union all
    {%- endif %}
    {%- endfor %}
    {%- else %}
    -- every coarse rule off: no candidate
    select tuple_key as tuple_key_a, tuple_key as tuple_key_b, 0 as distance
    from keyed
    where 1 = 0
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
