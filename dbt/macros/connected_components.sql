{#-
    Connected components of an undirected graph, as CTEs, on both dialects.

    T-SQL recursive CTEs allow only UNION ALL, no GROUP BY and no DISTINCT in the recursive part,
    so they cannot run a fixed-point label propagation. Instead the iteration is unrolled for a
    bounded number of rounds, each round one "large-star" and one "small-star" step (Kiveris et
    al., "Connected Components in MapReduce and Beyond", 2014):

      large-star: every node connects each larger neighbour to the smallest node of its closed
                  neighbourhood;
      small-star: every node connects itself and its smaller neighbours to the smallest of them.

    Both preserve connectivity and converge to one star per component centred on its smallest
    node. A path of n nodes, the slowest shape, needs about log2(n) rounds (measured: 1 024 nodes
    10 rounds, 4 096 nodes 12, 16 384 nodes 14); a cluster of near-duplicates around one photo
    needs one or two. Once converged, further rounds change nothing.

    Every CTE reads only the one before it (T-SQL inlines CTEs, so a CTE read twice per round
    would double the plan every round). Each step reads its input once and uses a 2-row
    (VALUES (0), (1)) cross join to see each edge from both ends.

    edges:  name of a CTE with columns node_lo < node_hi (BIGINT), no duplicate rows.
    Emits:  CTEs ending with `<prefix>_labels (node, component)`: for every node that has an edge,
            the smallest node of its component (when `rounds` sufficed: see the convergence test).
    The caller starts its CTE list with {{ with_recursive() }} and continues after the last CTE
    with a comma.

    DuckDB runs a recursive CTE instead (duckdb__connected_components_ctes): the unrolled rounds
    are one statement of 5 x rounds nested CTEs, and DuckDB's optimizer time grows with that
    nesting (measured on DuckDB 1.5.6: 0.06 s to plan 5 rounds, 1.9 s for 8, 6.2 s for 9, about
    three times per round: the 161-193 s `duplicate_groups` builds on 22 edges were planning).
    `dedup_cc_unrolled: true` runs the unrolled form on DuckDB too (the tests use it to check
    the T-SQL algorithm).
-#}
{% macro with_recursive() -%}
    {{ return(adapter.dispatch('with_recursive', 'image_platform')()) }}
{%- endmacro %}
{% macro default__with_recursive() -%} with {%- endmacro %}
{% macro duckdb__with_recursive() -%} with recursive {%- endmacro %}

{% macro connected_components_ctes(edges, rounds, prefix='cc') %}
    {{- return(adapter.dispatch('connected_components_ctes', 'image_platform')(
        edges, rounds, prefix)) -}}
{% endmacro %}

{#-
    DuckDB: minimum-label propagation to a fixed point, no round bound. The recursive part
    reads only the nodes whose label dropped in the previous step (USING KEY keeps one row per
    node, and `recurring.<prefix>_labels` is the current label of every node), so the work is
    proportional to the label changes, and the statement plans in milliseconds whatever the
    graph's diameter.
-#}
{% macro duckdb__connected_components_ctes(edges, rounds, prefix='cc') %}
    {%- if var('dedup_cc_unrolled', false) -%}
        {{- return(default__connected_components_ctes(edges, rounds, prefix)) -}}
    {%- endif %}
{{ prefix }}_ends as (
    select node_lo as node, node_hi as neighbour from {{ edges }}
    union all
    select node_hi as node, node_lo as neighbour from {{ edges }}
),

{{ prefix }}_labels (node, component) using key (node) as (
    select node, least(node, min(neighbour)) as component
    from {{ prefix }}_ends
    group by node

    union

    select e.node, min(changed.component) as component
    from {{ prefix }}_labels as changed
    inner join {{ prefix }}_ends as e on e.neighbour = changed.node
    inner join recurring.{{ prefix }}_labels as current_label on current_label.node = e.node
    -- `changed.component < current_label.component`, written so that it cannot be a join
    -- condition: on a bucket_links table whose rows an incremental refresh had appended, DuckDB
    -- 1.5 joined the two labels on it first (130M rows, 1.2 s instead of 0.03 s)
    where least(changed.component, current_label.component) < current_label.component
    group by e.node
)
{%- endmacro %}

{% macro default__connected_components_ctes(edges, rounds, prefix='cc') %}
    {%- set ns = namespace(current=edges) -%}
    {%- for r in range(1, rounds + 1) %}
{{ prefix }}_r{{ r }}_both_ends as (
    select
        case when ends.side = 0 then e.node_lo else e.node_hi end as node,
        case when ends.side = 0 then e.node_hi else e.node_lo end as neighbour
    from {{ ns.current }} as e
    cross join (values (0), (1)) as ends(side)
),

{{ prefix }}_r{{ r }}_neighbourhood as (
    select
        node,
        neighbour,
        min(neighbour) over (partition by node) as min_neighbour
    from {{ prefix }}_r{{ r }}_both_ends
),

{{ prefix }}_r{{ r }}_large_star as (
    select distinct
        case when min_neighbour < node then min_neighbour else node end as node_lo,
        neighbour as node_hi
    from {{ prefix }}_r{{ r }}_neighbourhood
    where neighbour > node
),

{{ prefix }}_r{{ r }}_smaller as (
    -- seen from node_hi, node_lo is a smaller neighbour
    select
        node_hi as node,
        node_lo as neighbour,
        min(node_lo) over (partition by node_hi) as min_neighbour
    from {{ prefix }}_r{{ r }}_large_star
),

{{ prefix }}_r{{ r }} as (
    select distinct
        min_neighbour as node_lo,
        case when ends.side = 0 then node else neighbour end as node_hi
    from {{ prefix }}_r{{ r }}_smaller
    cross join (values (0), (1)) as ends(side)
    where ends.side = 0 or neighbour <> min_neighbour
),
        {%- set ns.current = prefix ~ '_r' ~ r %}
    {% endfor %}
{{ prefix }}_final_ends as (
    select
        case when ends.side = 0 then e.node_lo else e.node_hi end as node,
        case when ends.side = 0 then e.node_hi else e.node_lo end as neighbour
    from {{ ns.current }} as e
    cross join (values (0), (1)) as ends(side)
),

{{ prefix }}_labels as (
    select
        node,
        case when min(neighbour) < node then min(neighbour) else node end as component
    from {{ prefix }}_final_ends
    group by node
)
{%- endmacro %}
