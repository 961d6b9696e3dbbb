{#-
    No member of a group is wider than its representative, or as wide and taller.

    Incremental refresh (var dedup_since): only the groups it wrote (those that hold a changed
    image, macro dedup_written_group_rows) are checked; every other group, its members and its
    representative are the rows the previous refresh checked.
-#}
with groups as (
    select
        image_id,
        group_id,
        representative_image_id,
        coalesce(width, -1) as width,
        coalesce(height, -1) as height
    from {{ ref('duplicate_groups') }}
    {%- if dedup_incremental() %}
    where group_id in ({{ changed_group_ids() }})
    {%- endif %}
)

select
    m.group_id,
    m.image_id as larger_member,
    m.width as member_width,
    m.height as member_height,
    r.image_id as representative,
    r.width as representative_width,
    r.height as representative_height
from groups as m
inner join groups as r on r.image_id = m.representative_image_id
where m.width > r.width or (m.width = r.width and m.height > r.height)
