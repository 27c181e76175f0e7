{#
  The project's one guard: a raw table that does not exist yet.

  dlt creates raw_<source>.<table> at the first load that has rows for it, with every column
  declared for it (dlt_pipelines/<source>/columns.py), so once a raw table exists it has every
  column staging reads. Before that (an empty database, a source never loaded) a model would
  fail on the missing relation; instead it reads an empty relation with the columns and types
  the sources YAML declares (data_type of each column), and the project builds.

      from {{ source_or_empty('fub', 'people') }}

  renders "raw_fub"."people" when the table exists, else
  (select cast(null as bigint) as "user_id", ... where false) as "people": either way the
  relation is called by the table's name (people.user_id); give it no alias of your own.
  source() is always called, so lineage and `source:` selection see the dependency.
#}
{% macro source_or_empty(source_name, table_name) %}
    {%- set relation = source(source_name, table_name) -%}
    {%- if not execute or raw_relation(relation.schema, relation.identifier) is not none -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set node = graph.sources['source.' ~ project_name ~ '.' ~ source_name ~ '.' ~ table_name] -%}
    {%- set columns = [] -%}
    {%- for column in node.columns.values() -%}
        {%- if not column.data_type -%}
            {%- do exceptions.raise_compiler_error(
                'source ' ~ source_name ~ '.' ~ table_name ~ ' column ' ~ column.name
                ~ ' has no data_type in its sources YAML (the empty relation needs it)') -%}
        {%- endif -%}
        {%- do columns.append('cast(null as ' ~ column.data_type ~ ') as ' ~ adapter.quote(column.name)) -%}
    {%- endfor -%}
    {{ return('(select ' ~ columns | join(', ') ~ ' where false) as ' ~ adapter.quote(table_name)) }}
{% endmacro %}


{#
  The raw table ``schema.identifier`` as a relation if it exists, else none — asked of the
  catalog directly, never of dbt's relation cache.

  Why not ``adapter.get_relation``: dbt does not pre-cache schemas it does not build (the raw_*
  schemas dlt owns), and on the first lookup of such a schema dbt-adapters'
  ``BaseAdapter.list_relations`` adds its tables to the shared cache one at a time. With
  ``threads > 1`` another model compiling at that moment sees the schema as "cached" while it is
  still partly listed, so a raw table that exists reads as missing; the staging model then
  selects nothing and its incremental mart marks the loads processed — rows silently skipped.
  (Seen as marts.agent_cap empty after a full onboarding, and skyslope sales missing in CI.)
#}
{% macro raw_relation(schema, identifier) %}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set found = run_query(
        "select to_regclass(quote_ident('" ~ schema ~ "') || '.' || quote_ident('" ~ identifier ~ "')) is not null"
    ) -%}
    {%- if found.columns[0].values()[0] -%}
        {{ return(api.Relation.create(database=target.database, schema=schema, identifier=identifier, type='table')) }}
    {%- endif -%}
    {{ return(none) }}
{% endmacro %}
