{#-
    Expressions that differ between DuckDB (local, ci) and T-SQL (Azure SQL, prod). Models call
    these and never spell a dialect-specific construct themselves. Each macro dispatches to
    duckdb__ / sqlserver__ with a default__ for other adapters.

    Portable as written, so no macro: CONCAT(...) (NULL counts as ''), window functions,
    (VALUES ...) AS t(c) row constructors, CAST(... AS BIGINT), & on BIGINT.
-#}

{#- Bitwise exclusive or of two BIGINTs. In DuckDB `^` is exponentiation, not xor. -#}
{% macro bitxor(a, b) -%}
    {{ return(adapter.dispatch('bitxor', 'image_platform')(a, b)) }}
{%- endmacro %}
{% macro default__bitxor(a, b) -%} ({{ a }} ^ {{ b }}) {%- endmacro %}
{% macro duckdb__bitxor(a, b) -%} xor({{ a }}, {{ b }}) {%- endmacro %}
{% macro sqlserver__bitxor(a, b) -%} ({{ a }} ^ {{ b }}) {%- endmacro %}

{#- Number of set bits of a BIGINT (two's complement: a negative value counts its sign bit). -#}
{% macro bit_count(x) -%}
    {{ return(adapter.dispatch('bit_count', 'image_platform')(x)) }}
{%- endmacro %}
{% macro default__bit_count(x) -%} bit_count({{ x }}) {%- endmacro %}
{% macro duckdb__bit_count(x) -%} bit_count({{ x }}) {%- endmacro %}
{% macro sqlserver__bit_count(x) -%} BIT_COUNT({{ x }}) {%- endmacro %}

{#-
    Hamming distance between two 128-bit hashes held as (row, col) BIGINT halves, as INTEGER.
    Each count is widened first: DuckDB's bit_count is TINYINT, and 64 + 64 overflows it.
-#}
{% macro hamming_distance(a_row, a_col, b_row, b_col) -%}
    (CAST({{ bit_count(bitxor(a_row, b_row)) }} AS INTEGER)
        + CAST({{ bit_count(bitxor(a_col, b_col)) }} AS INTEGER))
{%- endmacro %}

{#- A BIGINT literal. T-SQL types literals beyond INT as NUMERIC, which `&` and `^` reject. -#}
{% macro bigint_literal(value) -%} CAST({{ value }} AS BIGINT) {%- endmacro %}

{#- A boolean column computed from a predicate. T-SQL has no boolean values, only BIT. -#}
{% macro bool_expr(predicate) -%}
    {{ return(adapter.dispatch('bool_expr', 'image_platform')(predicate)) }}
{%- endmacro %}
{% macro default__bool_expr(predicate) -%} ({{ predicate }}) {%- endmacro %}
{% macro duckdb__bool_expr(predicate) -%} ({{ predicate }}) {%- endmacro %}
{% macro sqlserver__bool_expr(predicate) -%}
    CAST(CASE WHEN {{ predicate }} THEN 1 ELSE 0 END AS BIT)
{%- endmacro %}

{#- A predicate testing a boolean column (BIT in T-SQL). -#}
{% macro is_true(column) -%}
    {{ return(adapter.dispatch('is_true', 'image_platform')(column)) }}
{%- endmacro %}
{% macro default__is_true(column) -%} ({{ column }}) {%- endmacro %}
{% macro duckdb__is_true(column) -%} ({{ column }}) {%- endmacro %}
{% macro sqlserver__is_true(column) -%} ({{ column }} = 1) {%- endmacro %}

{#- Any scalar as text. T-SQL VARCHAR without a length is 30 characters. -#}
{% macro to_text(expression) -%}
    {{ return(adapter.dispatch('to_text', 'image_platform')(expression)) }}
{%- endmacro %}
{% macro default__to_text(expression) -%} CAST({{ expression }} AS VARCHAR) {%- endmacro %}
{% macro duckdb__to_text(expression) -%} CAST({{ expression }} AS VARCHAR) {%- endmacro %}
{% macro sqlserver__to_text(expression) -%} CAST({{ expression }} AS NVARCHAR(4000)) {%- endmacro %}

{#- Aggregate: the values of `expression` joined by `separator`, in ascending order. -#}
{% macro string_agg_sorted(expression, separator) -%}
    {{ return(adapter.dispatch('string_agg_sorted', 'image_platform')(expression, separator)) }}
{%- endmacro %}
{% macro default__string_agg_sorted(expression, separator) -%}
    string_agg({{ expression }}, '{{ separator }}' ORDER BY {{ expression }})
{%- endmacro %}
{% macro duckdb__string_agg_sorted(expression, separator) -%}
    string_agg({{ expression }}, '{{ separator }}' ORDER BY {{ expression }})
{%- endmacro %}
{% macro sqlserver__string_agg_sorted(expression, separator) -%}
    {#- NVARCHAR(MAX) input, or STRING_AGG fails past 4000 characters. -#}
    STRING_AGG(CAST({{ expression }} AS NVARCHAR(MAX)), N'{{ separator }}')
        WITHIN GROUP (ORDER BY {{ expression }})
{%- endmacro %}
