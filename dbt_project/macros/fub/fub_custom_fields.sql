{#
  fub_custom_fields(table): one value, the FUB custom fields of a raw_fub row as a jsonb object.

  FUB custom fields (fields=allFields) are named per account (customBirthday, customLeadScore...),
  so they cannot be declared beside the other columns (dlt_pipelines/fub/columns.py): dlt lands
  each as its own raw column, custom_<name>, typed from its values. This reads the table's
  custom_* columns from the catalog when the model is built and folds them into
  {"custom_birthday": ..., "custom_lead_score": ...}, nulls left out; '{}' when the table has
  none yet. A new custom field changes the raw table's columns, so the staging view is
  re-created on the next build (view_unless_unchanged.sql) and picks it up.

  Why not fold them at load time into one JSON column: the values would then be the API's JSON
  rather than the typed raw columns (timestamps, numbers as dlt typed them), so custom_fields in
  the marts would change, and the raw history loaded before would have no such column.
#}
{% macro fub_custom_fields(table) %}
    {%- set customs = [] -%}
    {%- if execute and raw_relation('raw_fub', table) is not none -%}
        {%- set found = run_query(
            "select column_name from information_schema.columns where table_schema = 'raw_fub' "
            ~ "and table_name = '" ~ table ~ "' and column_name like 'custom\\_%' order by ordinal_position") -%}
        {%- for row in found.rows -%}{%- do customs.append(row[0]) -%}{%- endfor -%}
    {%- elif execute -%}
        {{- return('cast(null as jsonb)') -}}
    {%- endif -%}
    {%- if not customs -%}
        {{- return("cast('{}' as jsonb)") -}}
    {%- endif -%}
    {%- set pairs = [] -%}
    {%- for column in customs -%}
        {%- do pairs.append("'" ~ column ~ "', " ~ adapter.quote(column)) -%}
    {%- endfor -%}
    {{- return('jsonb_strip_nulls(jsonb_build_object(' ~ pairs | join(', ') ~ '))') -}}
{% endmacro %}
