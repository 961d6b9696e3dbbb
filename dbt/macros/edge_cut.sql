{#-
    The edge-cut link (model edge_cut_pairs) at the level of distinct hashes.

    The model's hooks build three helper tables beside it (`<model>__areas`, `<model>__cuts`,
    incremental also `<model>__touched`) and its post-hook drops them; the band joins read
    tables, never CTEs (see near_duplicate_links: DuckDB re-reads a CTE per join). Every
    statement is plain SELECT / CREATE TABLE AS (SELECT INTO in T-SQL) / UPDATE / DELETE with
    subqueries, no CTE inside a hook (T-SQL has no WITH inside a derived table).
-#}

{#- A helper table of edge_cut_pairs: `<model>__<suffix>`. -#}
{% macro edge_cut_relation(model, suffix) %}
    {{ return(model.incorporate(path={"identifier": model.identifier ~ "__" ~ suffix})) }}
{% endmacro %}

{% macro edge_cut_sides() %}
    {{ return(['top', 'bottom', 'left', 'right']) }}
{% endmacro %}

{#- The images edge_cut_pairs searches: linkable, with an area hash (none when the link is off). -#}
{% macro edge_cut_linkable() -%}
    select
        image_id,
        dhash8_area_row,
        dhash8_area_col,
        {%- for side in edge_cut_sides() %}
        dhash8_cut_{{ side }}_row,
        dhash8_cut_{{ side }}_col{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ ref('stg_images') }}
    where unlinkable_id is null
        and dhash8_area_row is not null and dhash8_area_col is not null
        {%- if (var('near_duplicate_cut_threshold') | int) < 0 %}
        and 1 = 0
        {%- endif %}
{%- endmacro %}

{#-
    SELECT of one row per cut hash of a linkable image (a side whose cut is flat has none):
    image_id, area_row, area_col, cut_row, cut_col. `only`: a SELECT of image_ids to keep.
-#}
{% macro edge_cut_rows(only=none) -%}
    {%- for side in edge_cut_sides() %}
    select
        image_id,
        dhash8_area_row as area_row,
        dhash8_area_col as area_col,
        dhash8_cut_{{ side }}_row as cut_row,
        dhash8_cut_{{ side }}_col as cut_col
    from ({{ edge_cut_linkable() }}) as side_{{ side }}
    where dhash8_cut_{{ side }}_row is not null and dhash8_cut_{{ side }}_col is not null
        {%- if only is not none %}
        and image_id in ({{ only }})
        {%- endif %}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
{%- endmacro %}

{#- The changed images, once each (changed_image_ids may repeat one). -#}
{% macro edge_cut_changed() -%}
    select distinct changed_ids.image_id from ({{ changed_image_ids() }}) as changed_ids
{%- endmacro %}

{#-
    The distinct area hashes (kind 'area') or cut hashes of every side (kind 'cut'), one row
    each: hash_key (1.. in centre order, a key within one build), centre_id (the smallest
    image_id with that hash), hash_row, hash_col, searched (1: a band search starts from it;
    incremental: 0 until the pre-hook flags those of the touched images). Incremental also:
    old_centre_id, the smallest image_id with that hash among the images that are not changed
    (null: every image with it is changed, the hash is new), the centre before the batch.
-#}
{% macro edge_cut_values_sql(kind) -%}
{%- set incremental = dedup_incremental() -%}
select
    row_number() over (order by centre_id) as hash_key,
    centre_id,
    {%- if incremental %}
    old_centre_id,
    0 as searched,
    {%- else %}
    centre_id as old_centre_id,
    1 as searched,
    {%- endif %}
    hash_row,
    hash_col
from (
    select
        min(v.image_id) as centre_id,
        {%- if incremental %}
        min(case when ch.image_id is null then v.image_id end) as old_centre_id,
        {%- endif %}
        v.hash_row,
        v.hash_col
    from (
        {%- if kind == 'area' %}
        select image_id, dhash8_area_row as hash_row, dhash8_area_col as hash_col
        from ({{ edge_cut_linkable() }}) as linkable
        {%- else %}
        select image_id, cut_row as hash_row, cut_col as hash_col
        from ({{ edge_cut_rows() }}) as cut_rows
        {%- endif %}
    ) as v
    {%- if incremental %}
    left join ({{ edge_cut_changed() }}) as ch on ch.image_id = v.image_id
    {%- endif %}
    group by v.hash_row, v.hash_col
) as distinct_values
{%- endmacro %}

{#-
    SELECT of (area_key, cut_key, distance) candidates: the exact pigeonhole band search
    (near_duplicate_band_masks) of the distinct area hashes `areas` against the distinct cut
    hashes `cuts` (tables as edge_cut_values_sql builds), never all pairs; `where`: a condition
    on `a` (area) and `c` (cut) applied to every band join. The caller keeps distance <= the
    threshold.
-#}
{% macro edge_cut_band_search(areas, cuts, where=none) -%}
    {%- set threshold = var('near_duplicate_cut_threshold') | int -%}
    {%- for row_mask, col_mask in near_duplicate_band_masks(
        [threshold, 0] | max, var('near_duplicate_band_agreement') | int) %}
    select
        a.hash_key as area_key,
        c.hash_key as cut_key,
        {{ hamming_distance('a.hash_row', 'a.hash_col', 'c.hash_row', 'c.hash_col') }}
            as distance
    from {{ areas }} as a
    inner join {{ cuts }} as c
        on (a.hash_row & {{ bigint_literal(row_mask) }})
            = (c.hash_row & {{ bigint_literal(row_mask) }})
        and (a.hash_col & {{ bigint_literal(col_mask) }})
            = (c.hash_col & {{ bigint_literal(col_mask) }})
    {%- if where is not none %}
    where {{ where }}
    {%- endif %}
    {%- if not loop.last %}

    union all
    {%- endif %}
    {%- endfor %}
{%- endmacro %}

{#-
    Incremental: SELECT of the images whose rows an incremental refresh deletes and rebuilds
    (`<model>__touched`). Every row that a batch of new images adds, removes or changes has an
    end among them (proof in edge_cut_pairs' docstring):
      * the changed images;
      * the former centre of every area hash, cut hash and (area, cut) pair that a changed
        image now heads (a smaller image_id arrived with it);
      * the centre of every cut hash that a new area hash (all its images changed) matches:
        the cut may have been matched by nothing before, or less closely.
-#}
{% macro edge_cut_touched_sql(model) -%}
{%- set threshold = var('near_duplicate_cut_threshold') | int -%}
{%- set areas = edge_cut_relation(model, 'areas') -%}
{%- set cuts = edge_cut_relation(model, 'cuts') -%}
select distinct touched.image_id
from (
    select l.image_id
    from ({{ edge_cut_linkable() }}) as l
    where l.image_id in ({{ edge_cut_changed() }})

    union all

    select old_centre_id as image_id from {{ areas }} where old_centre_id > centre_id

    union all

    select old_centre_id as image_id from {{ cuts }} where old_centre_id > centre_id

    union all

    select pairs.old_first_id as image_id
    from (
        select
            min(r.image_id) as first_id,
            min(case when ch.image_id is null then r.image_id end) as old_first_id
        from ({{ edge_cut_rows() }}) as r
        inner join (
            select distinct k.area_row, k.area_col, k.cut_row, k.cut_col
            from ({{ edge_cut_rows(only=edge_cut_changed()) }}) as k
        ) as changed_pairs
            on changed_pairs.area_row = r.area_row
            and changed_pairs.area_col = r.area_col
            and changed_pairs.cut_row = r.cut_row
            and changed_pairs.cut_col = r.cut_col
        left join ({{ edge_cut_changed() }}) as ch on ch.image_id = r.image_id
        group by r.area_row, r.area_col, r.cut_row, r.cut_col
    ) as pairs
    where pairs.old_first_id > pairs.first_id

    union all

    select c.centre_id as image_id
    from (
        {{ edge_cut_band_search(areas, cuts, where='a.old_centre_id is null') }}
    ) as m
    inner join {{ cuts }} as c on c.hash_key = m.cut_key
    where m.distance <= {{ threshold }}
) as touched
where touched.image_id is not null
{%- endmacro %}

{#-
    The pre-hooks of edge_cut_pairs: the helper tables dropped (a killed build may have left
    them) and built; incremental, the touched images, the hashes their search starts from
    flagged (the area hashes they centre, every cut hash they have), and every row with an end
    among them deleted (the model appends them afresh).
-#}
{% macro edge_cut_pre_hook() %}
    {%- set hooks = edge_cut_post_hook() -%}
    {%- for kind in ['area', 'cut'] -%}
        {%- do hooks.append("{{ create_table_as_select(edge_cut_relation(this, '" ~ kind
                            ~ "s'), edge_cut_values_sql('" ~ kind ~ "')) }}") -%}
    {%- endfor -%}
    {%- if dedup_incremental() -%}
        {%- do hooks.append("{{ create_table_as_select(edge_cut_relation(this, 'touched'), "
                            ~ "edge_cut_touched_sql(this)) }}") -%}
        {%- do hooks.append("{{ edge_cut_flag_searched(this, 'areas') }}") -%}
        {%- do hooks.append("{{ edge_cut_flag_searched(this, 'cuts') }}") -%}
        {%- do hooks.append("{{ edge_cut_delete_touched(this) }}") -%}
    {%- endif -%}
    {{ return(hooks) }}
{% endmacro %}

{#- The post-hook of edge_cut_pairs (and the first pre-hooks): its helper tables dropped. -#}
{% macro edge_cut_post_hook() %}
    {%- set hooks = [] -%}
    {%- for suffix in ['areas', 'cuts', 'touched'] -%}
        {%- do hooks.append("drop table if exists {{ edge_cut_relation(this, '" ~ suffix
                            ~ "') }}") -%}
    {%- endfor -%}
    {{ return(hooks) }}
{% endmacro %}

{#- Incremental: the area hashes (kind 'areas') that touched images centre, or the cut hashes
    (kind 'cuts') that touched images have, flagged as starts of the band search. -#}
{% macro edge_cut_flag_searched(model, kind) -%}
{%- set touched = edge_cut_relation(model, 'touched') -%}
{%- set cuts = edge_cut_relation(model, 'cuts') -%}
{%- if kind == 'areas' -%}
update {{ edge_cut_relation(model, 'areas') }} set searched = 1
where centre_id in (select image_id from {{ touched }})
{%- else -%}
update {{ cuts }} set searched = 1
where hash_key in (
    select t.hash_key
    from {{ cuts }} as t
    inner join ({{ edge_cut_rows(only='select image_id from ' ~ touched) }}) as r
        on r.cut_row = t.hash_row and r.cut_col = t.hash_col
)
{%- endif -%}
{%- endmacro %}

{% macro edge_cut_delete_touched(model) -%}
{%- set touched = edge_cut_relation(model, 'touched') -%}
delete from {{ model }}
where image_id_a in (select image_id from {{ touched }})
    or image_id_b in (select image_id from {{ touched }})
{%- endmacro %}
