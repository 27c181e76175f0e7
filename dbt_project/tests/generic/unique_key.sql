{#
  Generic test: the columns together identify a row (e.g. [user_id, person_id]: a vendor id is
  unique within an agent). Rows returned = duplicates.
#}
{% test unique_key(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n
  from {{ model }}
 group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
