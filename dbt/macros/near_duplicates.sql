{#-
    Band masks for near-duplicate candidate search over 128-bit hashes (size-8 row + column).

    Pigeonhole: split the 128 bits into threshold + 1 disjoint bands; two hashes at most
    `threshold` bits apart differ in at most `threshold` bands, so at least one band is equal.
    Pairs that agree exactly on some band are the candidates; the exact distance then decides.
    Nothing within the threshold is missed, and no pair of all N^2 is ever enumerated.

    Bits are dealt round-robin (bit i to band i mod n_bands), so every band samples the whole
    picture: a flat region (sky, background) fixes a few bits of every band instead of all bits of
    one band, which keeps the exact-match buckets small.

    Returns [(row_mask, col_mask), ...] as signed 64-bit integers (the hashes' BIGINT form).
-#}
{% macro near_duplicate_band_masks(threshold) %}
    {%- if threshold < 0 or threshold > 16 -%}
        {{ exceptions.raise_compiler_error(
            "near_duplicate_threshold must be 0..16, got " ~ threshold ~ ": above 16 the bands "
            ~ "are under 8 bits wide and the candidate search degenerates into all pairs.") }}
    {%- endif -%}
    {%- set n_bands = threshold + 1 -%}
    {%- set masks = [] -%}
    {%- for band in range(n_bands) -%}
        {%- set m = namespace(row=0, col=0) -%}
        {%- for bit in range(band, 128, n_bands) -%}
            {%- if bit < 64 -%}
                {%- set m.row = m.row + 2 ** bit -%}
            {%- else -%}
                {%- set m.col = m.col + 2 ** (bit - 64) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- do masks.append((signed_int64(m.row), signed_int64(m.col))) -%}
    {%- endfor -%}
    {{ return(masks) }}
{% endmacro %}

{#- An unsigned 64-bit value reinterpreted as signed (two's complement), as the hashes are stored. -#}
{% macro signed_int64(value) %}
    {{ return(value - 2 ** 64 if value >= 2 ** 63 else value) }}
{% endmacro %}
