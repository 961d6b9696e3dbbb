{#-
    Centre links: images whose centre hashes (stg_images.dhash8_centre_*: the size-8 difference
    hash of the central 80 % of the content box, or of the whole picture without borders,
    resampled by area means; assets/hashing/engine.py PROBES) are at most
    var('near_duplicate_centre_threshold') bits apart. A copy turned by a degree or two, or
    re-framed by a few percent, moves most at its edges and corners (where a rotated scan's
    blank corners are), its centre least: on the project's benchmark (benchmarks/README.md) the
    +1.5 deg copies with white corners are 20-24 bits from their photo at size 8 but 3-8 on
    the centre hash, while different pictures stay 12 or more apart (two neighbouring rocket
    tiles). -1 turns the link off.

    Same shape, exact pigeonhole search and incremental refresh as border_trimmed_pairs (macro
    hash_link_model); images without a centre hash (too flat a centre) and images that may take
    no hash link at all (stg_images.unlinkable_id) are left out.
-#}
{%- set threshold = var('near_duplicate_centre_threshold') | int -%}
{{ config(
    materialized=dedup_materialized(),
    incremental_strategy='append',
    pre_hook=hash_link_pre_hook('dhash8_centre_row', 'dhash8_centre_col'),
    post_hook=hash_link_post_hook(),
) }}
{%- if threshold < 0 %}
select image_id as image_id_a, image_id as image_id_b, 0 as distance
from {{ ref('stg_images') }}
where 1 = 0
{%- else %}
{{ hash_link_model(
    'dhash8_centre_row',
    'dhash8_centre_col',
    threshold,
    var('near_duplicate_band_agreement') | int,
) }}
{%- endif %}
