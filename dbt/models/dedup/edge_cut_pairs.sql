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

    The link relates images through their hashes: image X with area hash v and image Y with a
    cut hash c are linked when d(v, c) <= threshold (the "image-pair form"). Its rows are built
    from distinct hashes, so m copies of one picture never give m^2 rows:
      * an area hash v is named by its centre A_v (its smallest image), a cut hash c (of any
        side) by its centre C_c, an (area hash u, cut hash c) pair by its smallest image Z_uc;
      * star:   every image with area hash v -- A_v, distance 0;
      * match:  A_v -- C_c, d(v, c), for every distinct pair (v, c) within the threshold (the
                exact pigeonhole search of the distinct area hashes against the distinct cut
                hashes: edge_cut_band_search, never all pairs);
      * attach: Z_uc -- C_c, distance min d(v, c) over the area hashes v matching c, for every
                pair (u, c) whose cut hash matched something. A cut hash that matched nothing
                attaches nothing: two cut hashes are never evidence of a copy by themselves.
    One row per image pair (image_id_a < image_id_b), the smallest distance. Star and match
    rows are pairs of the image-pair form; an attach row stands for "the smallest image with
    this area and this cut hash, and the smallest image with this cut hash": its distance is
    that of the cut hash to its closest area hash.

    Connected components equal the image-pair form's: every row joins images that form joins
    (Z_uc and C_c share c, which is within the threshold of some v, whose images all join both);
    and a form pair X (area v) -- Y (cut c) is joined here: X -- A_v (star) -- C_c (match), and
    Y -- A_u (star, u Y's area hash) -- Z_uc (star) -- C_c (attach). With O(distinct matches +
    distinct (area, cut) pairs + images) rows: at heavy duplication (benchmarks/
    bench_dedup_dense.py) the image-pair form held every image times every area hash near one of
    its cuts. tests/assets/test_dedup_edge_cut.py compares both forms' groups.

    Images without an area hash (too flat) and images that may take no hash link
    (stg_images.unlinkable_id) are left out; a flat cut hash is null and links nothing. -1
    turns the link off.

    Incremental refresh (var dedup_since; additions only): the pre-hook finds the touched
    images (macro edge_cut_touched_sql): the changed images, the former centre of every area
    hash, cut hash and (area, cut) pair a changed image now heads, and the centre of every cut
    hash a new area hash matches. Every row a batch adds, removes or changes has an end among
    them: a star or match row changes only with a centre (old and new centres are touched) or
    a new hash (its centre is a changed image); an attach row changes only with its pair's
    smallest image, with its cut's centre, or with the cut's matches, which change only by a
    new area hash or a new cut hash (whose centres are touched). The pre-hook deletes the rows
    with an end among them, and the model appends every row of a full build with an end among
    them: the band search runs from the area hashes they centre against every cut hash and from
    every area hash against the cut hashes they have (so those cuts' matches are complete), and
    only rows with a touched end are kept. The table therefore equals a full build's.
-#}
{%- set threshold = var('near_duplicate_cut_threshold') | int -%}
{%- set incremental = dedup_incremental() -%}
{%- set areas = edge_cut_relation(this, 'areas') -%}
{%- set cuts = edge_cut_relation(this, 'cuts') -%}
{%- set touched = edge_cut_relation(this, 'touched') -%}
{{ config(
    materialized=dedup_materialized(),
    incremental_strategy='append',
    pre_hook=edge_cut_pre_hook(),
    post_hook=edge_cut_post_hook(),
) }}

with candidates as (
    {%- if incremental %}
    -- from the area hashes touched images centre, against every cut hash
    {{ edge_cut_band_search(areas, cuts, where='a.searched = 1') }}

    union all

    -- from every area hash, against the cut hashes touched images have
    {{ edge_cut_band_search(areas, cuts, where='c.searched = 1') }}
    {%- else %}
    {{ edge_cut_band_search(areas, cuts) }}
    {%- endif %}
),

matches as (
    select distinct area_key, cut_key, distance
    from candidates
    where distance <= {{ threshold }}
),

matched_cuts as (
    -- every cut hash within the threshold of some area hash, with the closest distance
    select cut_key, min(distance) as distance
    from matches
    group by cut_key
),

attached as (
    -- the smallest image of each (area hash, cut hash) pair whose cut hash matched
    select min(r.image_id) as image_id, c.centre_id, m.distance
    from ({{ edge_cut_rows() }}) as r
    inner join {{ cuts }} as c on c.hash_row = r.cut_row and c.hash_col = r.cut_col
    inner join matched_cuts as m on m.cut_key = c.hash_key
    {%- if incremental %}
    where c.searched = 1
    {%- endif %}
    group by r.area_row, r.area_col, c.centre_id, m.distance
),

links as (
    -- copies of one area hash: a star around its centre
    select a.centre_id as image_id_a, l.image_id as image_id_b, 0 as distance
    from ({{ edge_cut_linkable() }}) as l
    inner join {{ areas }} as a
        on a.hash_row = l.dhash8_area_row and a.hash_col = l.dhash8_area_col
    where l.image_id <> a.centre_id
    {%- if incremental %}
        and (a.searched = 1 or l.image_id in (select image_id from {{ touched }}))
    {%- endif %}

    union all

    -- an area hash within the threshold of a cut hash: their centres
    select a.centre_id as image_id_a, c.centre_id as image_id_b, m.distance
    from matches as m
    inner join {{ areas }} as a on a.hash_key = m.area_key
    inner join {{ cuts }} as c on c.hash_key = m.cut_key
    where a.centre_id <> c.centre_id
    {%- if incremental %}
        and (
            a.centre_id in (select image_id from {{ touched }})
            or c.centre_id in (select image_id from {{ touched }})
        )
    {%- endif %}

    union all

    -- the images with a matched cut hash: attached to its centre
    select image_id as image_id_a, centre_id as image_id_b, distance
    from attached
    where image_id <> centre_id
    {%- if incremental %}
        and (
            image_id in (select image_id from {{ touched }})
            or centre_id in (select image_id from {{ touched }})
        )
    {%- endif %}
)

select
    case when image_id_a < image_id_b then image_id_a else image_id_b end as image_id_a,
    case when image_id_a < image_id_b then image_id_b else image_id_a end as image_id_b,
    min(distance) as distance
from links
group by
    case when image_id_a < image_id_b then image_id_a else image_id_b end,
    case when image_id_a < image_id_b then image_id_b else image_id_a end
