{#
  Self-check for raw_relation() (used by tests/foundation/test_raw_relation_lookup.py, and by an
  operator who suspects the hazard described in macros/source_or_empty.sql, raw_relation):

      dbt run-operation check_raw_relation_lookup --args '{schema: raw_x, listed: a, probe: b}'

  With ``record_to: <schema.table>`` it also (re)creates that table with one row
  ``(via_cache, via_catalog)`` — how the test reads the outcome.

  Puts the cache in the state another thread leaves it in while it lists ``schema``: only the
  ``listed`` table is known. Then looks ``probe`` (a table that exists) up both ways and logs
  ``cache=<bool> catalog=<bool>``; fails when the catalog lookup misses it.
#}
{% macro check_raw_relation_lookup(schema, listed, probe, record_to=none) %}
    {%- do adapter.cache_added(api.Relation.create(database=target.database, schema=schema, identifier=listed, type='table')) -%}
    {%- set via_cache = adapter.get_relation(database=target.database, schema=schema, identifier=probe) is not none -%}
    {%- set via_catalog = raw_relation(schema, probe) is not none -%}
    {%- do log('raw relation lookup: cache=' ~ via_cache ~ ' catalog=' ~ via_catalog, info=true) -%}
    {%- if record_to -%}
        {%- do run_query('drop table if exists ' ~ record_to) -%}
        {%- do run_query('create table ' ~ record_to ~ ' as select ' ~ via_cache ~ ' as via_cache, ' ~ via_catalog ~ ' as via_catalog') -%}
        {%- do run_query('commit') -%}
    {%- endif -%}
    {%- if not via_catalog -%}
        {%- do exceptions.raise_compiler_error(schema ~ '.' ~ probe ~ ' exists but raw_relation() did not find it') -%}
    {%- endif -%}
{% endmacro %}
