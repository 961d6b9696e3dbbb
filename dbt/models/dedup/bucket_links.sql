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
)

select distinct
    case when a.bucket_key < b.bucket_key then a.bucket_key else b.bucket_key end as node_lo,
    case when a.bucket_key < b.bucket_key then b.bucket_key else a.bucket_key end as node_hi
from links as p
inner join buckets as a on a.image_id = p.image_id_a
inner join buckets as b on b.image_id = p.image_id_b
where a.bucket_key <> b.bucket_key
