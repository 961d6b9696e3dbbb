{#-
    Per group: exactly one representative, every member names it, the group_id is the smallest
    member, group_size counts the members, and the representative is rank 1 with distance 0.

    Incremental refresh (var dedup_since): only the groups it wrote (those that hold a changed
    image, macro dedup_written_group_rows) are checked; every other group is as the previous
    refresh left and checked it.
-#}
with members as (
    select
        group_id,
        count(*) as members,
        min(image_id) as smallest_member,
        min(group_size) as min_group_size,
        max(group_size) as max_group_size,
        sum(case when {{ is_true('is_representative') }} then 1 else 0 end) as representatives,
        min(representative_image_id) as min_representative,
        max(representative_image_id) as max_representative,
        max(case when {{ is_true('is_representative') }} then image_id end) as kept_image,
        max(case when {{ is_true('is_representative') }} then rank_in_group end) as kept_rank,
        max(case when {{ is_true('is_representative') }} then distance_to_representative end)
            as kept_distance
    from {{ ref('duplicate_groups') }}
    {%- if dedup_incremental() %}
    where group_id in ({{ changed_group_ids() }})
    {%- endif %}
    group by group_id
)

select *
from members
where representatives <> 1
    or min_representative <> max_representative
    or min_representative <> kept_image
    or group_id <> smallest_member
    or min_group_size <> members
    or max_group_size <> members
    or kept_rank <> 1
    or kept_distance <> 0
