{#
  Every raw table gets the columns its sources YAML declares (run at the start of every dbt
  invocation, after the load indexes).

  The sources declare the columns staging reads (dlt_pipelines/<source>/columns.py, the same
  columns and types as the sources YAML), and dlt creates each with the table, even one null in
  every row so far. A raw table created before a column was declared gets that column from dlt
  only at its next load; until then a staging model naming it would fail. So a declared column a
  raw table lacks is added here, with its declared type (dlt then finds it in place and loads
  into it). One catalog query when nothing is missing; a table is altered only when it lacks a
  column. A raw table that does not exist yet is left to dlt (staging reads it through
  source_or_empty).
#}
{% macro add_declared_raw_columns() %}
    {%- set declared = [] -%}
    {%- if execute -%}
        {%- for source in graph.sources.values() if source.schema in var('raw_schemas') -%}
            {%- for column in source.columns.values() if column.data_type -%}
                {%- do declared.append("('" ~ source.schema ~ "', '" ~ source.identifier ~ "', '"
                    ~ column.name ~ "', '" ~ column.data_type ~ "')") -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if declared %}
    do $declared$
    declare
        c record;
    begin
        for c in
            select d.table_schema, d.table_name, d.column_name, d.data_type
              from (values {{ declared | join(', ') }}) as d(table_schema, table_name, column_name, data_type)
             where to_regclass(format('%I.%I', d.table_schema, d.table_name)) is not null
               and not exists (
                    select 1
                      from information_schema.columns as i
                     where i.table_schema = d.table_schema
                       and i.table_name = d.table_name
                       and i.column_name = d.column_name
               )
        loop
            execute format(
                'alter table %I.%I add column if not exists %I %s',
                c.table_schema, c.table_name, c.column_name, c.data_type
            );
        end loop;
    end $declared$;
    {%- else %}
    select 1
    {%- endif %}
{% endmacro %}
