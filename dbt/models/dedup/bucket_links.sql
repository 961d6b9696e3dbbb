{#-
    The edges of duplicate_groups' connected components: one row per pair of size-k buckets
    (macro dedup_buckets) that some link of some link model (macro dedup_links) joins, as their
    bucket keys node_lo < node_hi. Links inside one bucket (copies of one hash) add nothing and
    are left out, so the rows grow with the distinct pictures' links, not with their copies.

    A table of its own because DuckDB's recursive CTE is fast on a table and slow on a chain of
    CTEs: on 100k heavily duplicated images the components took ~20 s reading these edges from
    CTEs inside duplicate_groups and 0.13 s reading them from a table; at 1M the model did not
    finish in 7 minutes (dbt/README.md). The keys are stg_images.image_key, the same in
    duplicate_groups within one build.

    Incremental refresh (var dedup_since): a bucket's key, its smallest image_key, does not move
    (new images get keys after the largest). Every link row a refresh adds or removes touches a
    changed image or its hash's centre, which a link joins to it (a hash's star and its centre's
    pairs are replaced only when a changed image takes the hash); so every such row has an end
    in the buckets of the changed images and the images they are linked to
    (bucket_links_touched_values). The pre-hook stores those buckets' values in a table of their
    own (bucket_links_touched_relation, dropped by the post-hook) and deletes every edge of those
    buckets; the model appends them afresh from every link with an end in them (whole buckets,
    so their keys are the collection's); no other edge can change, and the table equals a full
    rebuild's.
-#}
{{ config(
    materialized=dedup_materialized(),
    incremental_strategy='append',
    pre_hook=bucket_links_pre_hook(),
    post_hook=bucket_links_post_hook(),
) }}
{%- set incremental = dedup_incremental() %}

with links as (
    {{ dedup_links() }}
),
{%- if incremental %}

touched as (
    -- every image of the touched buckets
    select image_id from ({{ dedup_buckets(only=bucket_links_touched_relation(this)) }})
        as keyed
),

scoped_links as (
    -- every link with an end in them
    select p.image_id_a, p.image_id_b
    from links as p
    where p.image_id_a in (select image_id from touched)
        or p.image_id_b in (select image_id from touched)
),
{%- else %}

scoped_links as (
    select image_id_a, image_id_b from links
),
{%- endif %}

link_ends as (
    -- every link seen from both of its images
    select
        p.image_id_a,
        p.image_id_b,
        case when ends.side = 0 then p.image_id_a else p.image_id_b end as image_id
    from scoped_links as p
    cross join (values (0), (1)) as ends(side)
),

buckets as (
    {%- if incremental %}
    -- the buckets of those links' ends, whole (the hash values of the ends)
    select image_id, bucket_key from ({{ dedup_buckets(only='(' ~ dedup_bucket_values_of(
        'select image_id from link_ends') ~ ')') }}) as keyed
    {%- else %}
    select image_id, bucket_key from ({{ dedup_buckets() }}) as keyed
    {%- endif %}
),

linked_buckets as (
    -- One equi-join and an aggregate: joining the link's two buckets separately with
    -- `a.bucket_key <> b.bucket_key` let DuckDB join the buckets to each other first (a nested
    -- loop over buckets squared: 15 s on the dense reproducer's 3,320 images, 0.3 s this way).
    select min(b.bucket_key) as node_lo, max(b.bucket_key) as node_hi
    from link_ends as e
    inner join buckets as b on b.image_id = e.image_id
    group by e.image_id_a, e.image_id_b
    having min(b.bucket_key) < max(b.bucket_key)
)

select distinct node_lo, node_hi
from linked_buckets
