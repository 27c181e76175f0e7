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
