{#-
    The lab's table of distinct images per label at each hash size: how many different pictures
    a label holds when images with equal size-s hashes count once. Counts compare the integer
    row and column hashes (the lab's hex strings are ambiguous at sizes 1, 2, 3, 5, 6, 7).
    An image filed under several labels counts in each of them.
-#}
with labelled as (
    select distinct c.label, c.image_id
    from {{ source('warehouse', 'raw_images') }} as c
    where c.label is not null
),

hashed as (
    select l.label, l.image_id, h.*
    from labelled as l
    inner join (
        select
            image_id as hashed_image_id,
            {%- for size in range(1, 9) %}
            dhash{{ size }}_row,
            dhash{{ size }}_col{{ "," if not loop.last }}
            {%- endfor %}
        from {{ source('warehouse', 'image_hashes') }}
    ) as h on h.hashed_image_id = l.image_id
),

images as (
    select label, count(*) as images
    from hashed
    group by label
),

{%- for size in range(8, 0, -1) %}

distinct_{{ size }} as (
    select label, count(*) as n
    from (
        select distinct label, dhash{{ size }}_row, dhash{{ size }}_col
        from hashed
    ) as hashes_{{ size }}
    group by label
){{ "," if not loop.last }}
{%- endfor %}

select
    i.label,
    i.images,
    {%- for size in range(8, 0, -1) %}
    d{{ size }}.n as Count{{ size }}{{ "," if not loop.last }}
    {%- endfor %}
from images as i
{%- for size in range(8, 0, -1) %}
inner join distinct_{{ size }} as d{{ size }} on d{{ size }}.label = i.label
{%- endfor %}
