{#-
    Candidate keys for the near-duplicate search over 128-bit hashes (size-8 row + column).

    Pigeonhole: split the 128 bits into threshold + agreement disjoint bands; two hashes at most
    `threshold` bits apart differ in at most `threshold` bands, so at least `agreement` bands are
    equal. Each key is the union of `agreement` bands, one key per combination of bands: every
    pair within the threshold agrees exactly on at least one key. Pairs that agree on some key
    are the candidates; the exact distance then decides. Nothing within the threshold is missed,
    and no pair of all N^2 is ever enumerated.

    agreement = 1: threshold + 1 keys of about 128 / (threshold + 1) bits (14 at threshold 8).
    agreement = 2: (threshold + 2) (threshold + 1) / 2 keys of about 2 x 128 / (threshold + 2)
    bits (45 keys of 25-26 bits at threshold 8). More joins, but each bucket is tiny: the
    candidates grow with N^2 / 2^key_bits, so wider keys win on large collections.

    Bits are dealt round-robin (bit i to band i mod n_bands), so every band samples the whole
    picture: a flat region (sky, background) fixes a few bits of every band instead of all bits of
    one band, which keeps the exact-match buckets small.

    word_bits: bits of each of the two words (64 at size 8; s * s at size s, e.g. 25 at size 5).

    Returns [(row_mask, col_mask), ...] as signed 64-bit integers (the hashes' BIGINT form).
-#}
{% macro near_duplicate_band_masks(threshold, agreement=1, word_bits=64) %}
    {%- if threshold < 0 or threshold > 16 -%}
        {{ exceptions.raise_compiler_error(
            "near_duplicate_threshold must be 0..16, got " ~ threshold ~ ": above 16 the bands "
            ~ "are under 8 bits wide and the candidate search degenerates into all pairs.") }}
    {%- endif -%}
    {%- if agreement not in [1, 2] -%}
        {{ exceptions.raise_compiler_error(
            "near_duplicate_band_agreement must be 1 or 2, got " ~ agreement) }}
    {%- endif -%}
    {%- set n_bands = threshold + agreement -%}
    {%- set bands = [] -%}
    {%- for band in range(n_bands) -%}
        {%- set m = namespace(row=0, col=0) -%}
        {%- for bit in range(band, 2 * word_bits, n_bands) -%}
            {%- if bit < word_bits -%}
                {%- set m.row = m.row + 2 ** bit -%}
            {%- else -%}
                {%- set m.col = m.col + 2 ** (bit - word_bits) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- do bands.append((m.row, m.col)) -%}
    {%- endfor -%}
    {%- set masks = [] -%}
    {%- if agreement == 1 -%}
        {%- for row, col in bands -%}
            {%- do masks.append((signed_int64(row), signed_int64(col))) -%}
        {%- endfor -%}
    {%- else -%}
        {%- for i in range(n_bands) -%}
            {%- for j in range(i + 1, n_bands) -%}
                {#- Disjoint bands: their sum is their union. -#}
                {%- do masks.append((
                    signed_int64(bands[i][0] + bands[j][0]),
                    signed_int64(bands[i][1] + bands[j][1]))) -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(masks) }}
{% endmacro %}

{#- An unsigned 64-bit value reinterpreted as signed (two's complement), as the hashes are stored. -#}
{% macro signed_int64(value) %}
    {{ return(value - 2 ** 64 if value >= 2 ** 63 else value) }}
{% endmacro %}

{#-
    Near-duplicate links of one hash column, as image pairs, without ever holding all pairs.

    The images are collapsed on their hash value first: each distinct value gets one centre,
    its smallest image_id, and every other image with that value is linked to the centre only
    (distance 0): m copies of one picture give m - 1 rows, a star, never the m^2 / 2 rows of a
    clique. The pigeonhole band search (near_duplicate_band_masks) then runs over the distinct
    values alone, and each pair of distinct values within `threshold` bits is one row linking
    their centres. The rows are therefore linear in the images plus the pairs of distinct
    values, and they connect exactly what the full pair list connects: two images are within
    the threshold iff they share a centre or their two centres are a row.

    relation:   a relation (table or parenthesised SELECT, no alias) with one row per image
                (`id_column`, the hash as two BIGINT halves).
    hashes:     the table of its distinct values (link_hashes_sql, built by the model's pre-hook:
                create_link_hashes). The band joins read a table, not a CTE: DuckDB re-reads a
                CTE per join and keeps every join's build side alive (1M hashes, 45 joins: 7.2 s
                and 3.3 GB from a CTE, 4.0 s and 176 MB from a table; 10M: 181.8 s, 20.2 GB).
    changed:    incremental: only the values flagged `searched` (those of changed images) are
                searched, against all values, and only their stars are emitted.
    Emits:      a complete SELECT (image_id_a < image_id_b, distance), usable as a model body.

    A second hash (another size, a border-trimmed hash, ...) links images by the same macro on
    its own columns; duplicate_groups takes the union of the link models (see its docstring).
-#}
{% macro near_duplicate_links(relation, row_column, col_column, threshold, agreement, hashes,
                              id_column='image_id', changed=none) %}
{%- set masks = near_duplicate_band_masks(threshold, agreement) -%}
with candidates as (
    {%- for row_mask, col_mask in masks %}
    select
        case when a.hash_key < b.hash_key then a.hash_key else b.hash_key end as hash_key_a,
        case when a.hash_key < b.hash_key then b.hash_key else a.hash_key end as hash_key_b,
        {{ hamming_distance('a.hash_row', 'a.hash_col', 'b.hash_row', 'b.hash_col') }}
            as distance
    from {{ hashes }} as a
    inner join {{ hashes }} as b
        on (a.hash_row & {{ bigint_literal(row_mask) }})
            = (b.hash_row & {{ bigint_literal(row_mask) }})
        and (a.hash_col & {{ bigint_literal(col_mask) }})
            = (b.hash_col & {{ bigint_literal(col_mask) }})
        {%- if changed is none %}
        and a.hash_key < b.hash_key
        {%- else %}
        and a.hash_key <> b.hash_key
    where a.searched = 1
        {%- endif %}
    {%- if not loop.last %}

    union all
    {%- endif %}
    {%- endfor %}
),

hash_pairs as (
    select distinct hash_key_a, hash_key_b, distance
    from candidates
    where distance <= {{ threshold }}
)

-- copies of one hash value: a star around its centre
select
    h.centre_id as image_id_a,
    i.{{ id_column }} as image_id_b,
    0 as distance
from {{ relation }} as i
inner join {{ hashes }} as h
    on h.hash_row = i.{{ row_column }} and h.hash_col = i.{{ col_column }}
where i.{{ id_column }} <> h.centre_id
{%- if changed is not none %}
    and h.searched = 1
{%- endif %}

union all

-- different hash values within the threshold: their centres
select
    a.centre_id as image_id_a,
    b.centre_id as image_id_b,
    p.distance
from hash_pairs as p
inner join {{ hashes }} as a on a.hash_key = p.hash_key_a
inner join {{ hashes }} as b on b.hash_key = p.hash_key_b
{%- endmacro %}

{#-
    The distinct hash values of one hash column pair of `relation` (as in near_duplicate_links),
    one row each: hash_key (1.. in centre order, a key within one build), centre_id (the smallest image_id
    with the value), hash_row, hash_col, and searched = 1 for the values a band search starts
    from (every value in full; incremental: those of the changed images, `changed` a SELECT of
    image_ids).
-#}
{% macro link_hashes_sql(relation, row_column, col_column, id_column='image_id', changed=none) %}
select
    row_number() over (order by centre_id) as hash_key,
    centre_id,
    hash_row,
    hash_col,
    {%- if changed is none %}
    1 as searched
    {%- else %}
    case
        when exists (
            select 1
            from {{ relation }} as c
            where c.{{ row_column }} = v.hash_row
                and c.{{ col_column }} = v.hash_col
                and c.{{ id_column }} in ({{ changed }})
        ) then 1
        else 0
    end as searched
    {%- endif %}
from (
    select
        min(i.{{ id_column }}) as centre_id,
        i.{{ row_column }} as hash_row,
        i.{{ col_column }} as hash_col
    from {{ relation }} as i
    where i.{{ row_column }} is not null and i.{{ col_column }} is not null
    group by i.{{ row_column }}, i.{{ col_column }}
) as v
{%- endmacro %}

{#- The table of a link model's distinct hashes: beside the model, built and dropped by its hooks. -#}
{% macro link_hashes_relation(model) %}
    {{ return(model.incorporate(path={"identifier": model.identifier ~ "__hashes"})) }}
{% endmacro %}

{#- One statement creating table `relation` from `sql`: CREATE TABLE AS, SELECT INTO in T-SQL. -#}
{% macro create_table_as_select(relation, sql) %}
    {{- return(adapter.dispatch('create_table_as_select', 'image_platform')(relation, sql)) -}}
{% endmacro %}
{% macro default__create_table_as_select(relation, sql) -%}
create table {{ relation }} as
{{ sql }}
{%- endmacro %}
{% macro sqlserver__create_table_as_select(relation, sql) -%}
select * into {{ relation }} from (
{{ sql }}
) as created
{%- endmacro %}

{#-
    Incremental: remove every link of the hash values of changed images (their stars and their
    centres' pairs) before near_duplicate_links(..., changed=...) appends them afresh; a centre
    may have moved (a smaller image_id arrived with the same hash).
-#}
{% macro delete_links_of_changed(target, relation, row_column, col_column, changed,
                                 id_column='image_id') %}
delete from {{ target }}
where image_id_a in ({{ _members_of_changed_hashes(relation, row_column, col_column, changed,
                                                   id_column) }})
    or image_id_b in ({{ _members_of_changed_hashes(relation, row_column, col_column, changed,
                                                    id_column) }})
{%- endmacro %}

{% macro _members_of_changed_hashes(relation, row_column, col_column, changed, id_column) -%}
    select m.{{ id_column }}
    from {{ relation }} as m
    where exists (
        select 1
        from {{ relation }} as c
        where c.{{ row_column }} = m.{{ row_column }}
            and c.{{ col_column }} = m.{{ col_column }}
            and c.{{ id_column }} in ({{ changed }})
    )
{%- endmacro %}
