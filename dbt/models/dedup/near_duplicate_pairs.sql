{#-
    Near-duplicate links between images: size-8 hashes at most var('near_duplicate_threshold')
    bits apart, stored as pairs to a representative (macro near_duplicate_links):

      * every image whose size-8 hash another image also has is linked to that hash's smallest
        image_id (distance 0), the hash's centre;
      * every two distinct size-8 hashes within the threshold link their two centres.

    So m copies of one picture cost m - 1 rows instead of m^2 / 2, and the band search runs over
    distinct hashes only. Two images are near-duplicates iff they have the same centre or their
    centres are a row here (the full pair list is a two-hop join, never stored).

    Images that may take no hash link (blank, flat, tiny: stg_images.unlinkable_id) stay out.
    Incremental refresh (var dedup_since): the links of every size-8 hash a changed image has are
    deleted and recomputed (macro hash_link_model), so new rows only touch a new image or its
    hash's centre. A link model of its own is listed in dedup_link_models.
-#}
{{ config(
    materialized=dedup_materialized(),
    incremental_strategy='append',
    pre_hook=hash_link_pre_hook('dhash8_row', 'dhash8_col'),
    post_hook=hash_link_post_hook(),
) }}
{{ hash_link_model(
    'dhash8_row',
    'dhash8_col',
    var('near_duplicate_threshold') | int,
    var('near_duplicate_band_agreement') | int,
) }}
