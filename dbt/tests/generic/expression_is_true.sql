{#- Every row satisfies the predicate `expression` (plain SQL valid in both dialects). -#}
{% test expression_is_true(model, expression) %}
select *
from {{ model }}
where not ({{ expression }})
{% endtest %}
