{#
  The view materialization, except that a view whose definition did not change is left alone.

  dbt's own view materialization re-creates every selected view on every build (create a new view,
  swap names, drop the old one). A daily build selects the views downstream of the new loads; most
  of them are exactly what they were. Here a view is re-created only when its *digest* changed:
  the md5 of its compiled SQL, its descriptions (persisted as comments) and the columns of every
  relation it reads (through ephemeral models, down to tables, views and sources) — so a raw table
  that gained a column, or an upstream model re-created with other columns, re-creates it.
  The digest of each view is kept in ops.dbt_view_digests, written once the view is created (a crash
  in between leaves a view without a digest: it is re-created next time). The view must also still
  exist (a cascade may have dropped it), which is checked in the
  database, not in dbt's relation cache. --full-refresh re-creates every view.
#}

{% macro view_parent_relations(node, found) %}
    {%- for parent_id in node.depends_on.nodes -%}
        {%- set parent = graph.nodes.get(parent_id) or graph.sources.get(parent_id) -%}
        {%- if parent is not none -%}
            {%- if parent.resource_type == 'model' and parent.config.materialized == 'ephemeral' -%}
                {%- do view_parent_relations(parent, found) -%}
            {%- else -%}
                {%- set key = parent.schema ~ '.' ~ (parent.identifier if parent.resource_type == 'source' else (parent.alias or parent.name)) -%}
                {%- if key not in found -%}{%- do found.append(key) -%}{%- endif -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
{% endmacro %}


{% macro view_digest(sql) %}
    {%- set parents = [] -%}
    {%- do view_parent_relations(model, parents) -%}
    {%- set columns = [] -%}
    {%- if parents -%}
        {%- set keys = [] -%}
        {%- for p in parents | sort -%}{%- do keys.append("'" ~ p ~ "'") -%}{%- endfor -%}
        {%- set result = run_query(
            "select string_agg(table_schema || '.' || table_name || '.' || column_name || ':' || data_type, ',' "
            ~ "order by table_schema, table_name, ordinal_position) from information_schema.columns "
            ~ "where table_schema || '.' || table_name in (" ~ keys | join(', ') ~ ")") -%}
        {%- do columns.append(result.rows[0][0] or '') -%}
    {%- endif -%}
    {%- set docs = [model.description or ''] -%}
    {%- for name, col in model.columns.items() | sort -%}{%- do docs.append(name ~ '=' ~ (col.description or '')) -%}{%- endfor -%}
    {{ return(local_md5(sql ~ '\n--docs\n' ~ docs | join('\n') ~ '\n--parents\n' ~ columns | join(''))) }}
{% endmacro %}


{% macro stored_view_digest(relation) %}
    {%- set result = run_query(
        "select d.digest from ops.dbt_view_digests as d "
        ~ "join pg_class as c on c.oid = to_regclass('" ~ relation.schema ~ "." ~ relation.identifier ~ "') "
        ~ "where d.relation = '" ~ relation.schema ~ "." ~ relation.identifier ~ "' and c.relkind = 'v'") -%}
    {{ return(result.rows[0][0] if result.rows else none) }}
{% endmacro %}


{% materialization view, adapter='postgres' %}
    {%- set digest = view_digest(sql) -%}
    {%- if not should_full_refresh() and stored_view_digest(this) == digest -%}
        {{ run_hooks(pre_hooks, inside_transaction=False) }}
        {{ run_hooks(pre_hooks, inside_transaction=True) }}
        {% call statement('main') -%}
            select 'unchanged view {{ this }}' as result
        {%- endcall %}
        {{ run_hooks(post_hooks, inside_transaction=True) }}
        {{ adapter.commit() }}
        {{ run_hooks(post_hooks, inside_transaction=False) }}
        {{ return({'relations': [this.incorporate(type='view')]}) }}
    {%- endif -%}
    {%- set result = materialization_view_default() -%}
    {% call statement('view_digest', auto_begin=True) -%}
        insert into ops.dbt_view_digests (relation, digest) values ('{{ this.schema }}.{{ this.identifier }}', '{{ digest }}')
        on conflict (relation) do update set digest = excluded.digest, created_at = now()
    {%- endcall %}
    {{ adapter.commit() }}
    {{ return(result) }}
{% endmaterialization %}
