{#
  The measurable "processed" state.

  dlt commits a load by writing a row with status 0 to <raw schema>._dlt_loads. At the start of
  every dbt invocation, snapshot_committed_loads() freezes the set of committed loads into
  ops.dbt_load_batch (keyed by invocation_id), so a load that commits while dbt runs is left for
  the next run instead of being half-seen.

  An incremental mart reads only raw rows whose _dlt_load_id is in unprocessed_loads(schema):
  loads of this batch that this mart has not merged yet (on a full refresh or a first build: all
  of them). Its post-hook mark_loads_processed(schema) records them in ops.dbt_processed_loads in
  the same transaction as the merge. The backlog is: raw rows whose load a mart has not processed.
#}

{% macro snapshot_committed_loads() %}
    {% for schema in var('raw_schemas') %}
    do $snap$ begin
        if to_regclass('{{ schema }}._dlt_loads') is not null then
            insert into ops.dbt_load_batch (invocation_id, schema_name, load_id)
            select '{{ invocation_id }}', '{{ schema }}', load_id
              from {{ schema }}._dlt_loads
             where status = 0
            on conflict do nothing;
        end if;
    end $snap$;
    {% endfor %}
{% endmacro %}


{% macro release_load_batch() %}
    delete from ops.dbt_load_batch where invocation_id = '{{ invocation_id }}'
{% endmacro %}


{% macro processed_model_key() -%}
    {{ this.schema }}.{{ this.identifier }}
{%- endmacro %}


{% macro unprocessed_loads(raw_schema) %}
    select b.load_id
      from ops.dbt_load_batch as b
     where b.invocation_id = '{{ invocation_id }}'
       and b.schema_name = '{{ raw_schema }}'
    {% if is_incremental() %}
       and not exists (
            select 1
              from ops.dbt_processed_loads as p
             where p.model = '{{ processed_model_key() }}'
               and p.load_id = b.load_id
       )
    {% endif %}
{% endmacro %}


{% macro mark_loads_processed(raw_schema) %}
    {% if flags.FULL_REFRESH %}
    delete from ops.dbt_processed_loads where model = '{{ processed_model_key() }}';
    {% endif %}
    insert into ops.dbt_processed_loads (model, schema_name, load_id)
    select '{{ processed_model_key() }}', schema_name, load_id
      from ops.dbt_load_batch
     where invocation_id = '{{ invocation_id }}'
       and schema_name = '{{ raw_schema }}'
    on conflict do nothing
{% endmacro %}


{#- Does a raw table exist yet? Staging models over sources not loaded yet select nothing. -#}
{% macro relation_exists(schema, identifier) %}
    {%- if execute -%}
        {{ return(raw_relation(schema, identifier) is not none) }}
    {%- else -%}
        {{ return(true) }}
    {%- endif -%}
{% endmacro %}
