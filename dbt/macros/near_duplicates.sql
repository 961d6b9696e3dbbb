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

    Returns [(row_mask, col_mask), ...] as signed 64-bit integers (the hashes' BIGINT form).
-#}
{% macro near_duplicate_band_masks(threshold, agreement=1) %}
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
        {%- for bit in range(band, 128, n_bands) -%}
            {%- if bit < 64 -%}
                {%- set m.row = m.row + 2 ** bit -%}
            {%- else -%}
                {%- set m.col = m.col + 2 ** (bit - 64) -%}
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
