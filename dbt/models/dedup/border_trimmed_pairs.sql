{#-
    Border-robust near-duplicate links: images whose content-box hashes (the size-8 dHash of the
    picture inside solid borders, stg_images.dhash8_trim_*) are at most
    var('near_duplicate_trim_threshold') bits apart. A letterboxed, padded or framed copy keeps
    its picture's content-box hash while its whole-frame hash moves 15-46 bits; an image without
    borders has a content-box hash equal to its size-8 hash, so it meets its bordered copies here.

    Same shape and the same exact pigeonhole search as near_duplicate_pairs (macro
    near_duplicate_links): a star per distinct hash plus pairs of distinct hashes within the
    threshold, never all pairs. Images without a content-box hash (too small or too flat a box)
    and images that may take no hash link at all (stg_images.unlinkable_id) are left out.
    Incremental refresh (var dedup_since): as near_duplicate_pairs, from the content-box hashes
    of the changed images (macro hash_link_model).
-#}
{{ config(
    materialized=dedup_materialized(),
    incremental_strategy='append',
    pre_hook=hash_link_pre_hook('dhash8_trim_row', 'dhash8_trim_col'),
    post_hook=hash_link_post_hook(),
) }}
{{ hash_link_model(
    'dhash8_trim_row',
    'dhash8_trim_col',
    var('near_duplicate_trim_threshold') | int,
    var('near_duplicate_band_agreement') | int,
) }}
