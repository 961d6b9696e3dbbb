{#-
    The edges of duplicate_groups' connected components: one row per pair of size-k buckets
    (macro dedup_buckets) that some link of some link model (macro dedup_links) joins, as their
    bucket keys node_lo < node_hi. Links inside one bucket (copies of one hash) add nothing and
    are left out, so the rows grow with the distinct pictures' links, not with their copies.

    A table of its own because DuckDB's recursive CTE is fast on a table and slow on a chain of
    CTEs: on 100k heavily duplicated images the components took ~20 s reading these edges from
    CTEs inside duplicate_groups and 0.13 s reading them from a table; at 1M the model did not
    finish in 7 minutes (dbt/README.md). The keys are stg_images.image_key, the same in
    duplicate_groups within one build; rebuilt in full by every refresh, incremental or not.
-#}
with buckets as (
    select image_id, bucket_key from ({{ dedup_buckets() }}) as keyed
),

links as (
    {{ dedup_links() }}
),

link_ends as (
    -- every link seen from both of its images
    select
        p.image_id_a,
        p.image_id_b,
        case when ends.side = 0 then p.image_id_a else p.image_id_b end as image_id
    from links as p
    cross join (values (0), (1)) as ends(side)
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
