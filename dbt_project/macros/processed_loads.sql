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

  Per-agent recomputed marts (a result that is not a merge of new rows: snapshots of full-list
  streams, aggregates, matches, unified marts). Every dlt pipeline is per agent and source
  (pipeline <source>_user_<id>, dataset raw_<source>), so every load belongs to exactly one agent.
  Such a mart is materialized='incremental' (append) and, on an incremental run,
    - pre_hook delete_affected_agents(raw_schemas) deletes the rows of the affected agents,
    - its select is limited by affected_agents_filter('user_id', raw_schemas) to the same agents
      and recomputes their whole current result (an agent whose new result is empty keeps no rows),
    - post_hook mark_loads_processed(schema) for every raw schema it depends on.
  Affected agents = agents_with_unprocessed_loads(raw_schemas): the agents of the loads this mart
  has not processed. No unprocessed load: the filter is a constant false (checked when the model
  runs), so nothing is read, deleted or written. First build / full refresh: every agent.

  load_id -> user_id: ops.sync_runs (user_id, source, load_id), written for every run of every
  source incl. FUB webhook loads, is small and exact; it is the primary mapping. A committed load
  with no sync_runs row (the run failed after dlt committed, dlt loaded an older pending package
  of the same pipeline, or a load made outside the sources) is mapped by the raw tables' own
  user_id column (every raw table has one; dlt's nested child tables, which have none, load with
  their parent rows); that scan is emitted only when such a load is unprocessed.
  _dlt_loads.schema_name is the source ('rezen', ...), not the agent, so it cannot map a load.

  A mart built on other marts (e.g. marts.transactions on rezen_transactions and skyslope_sales)
  marks a load processed only once every upstream mart that processes that raw schema has
  processed it (see marking_upstream_models): if a selection ran the downstream mart without its
  upstream, the load stays unprocessed here and its agent is recomputed on a later run.
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


{#- The model's key in ops.dbt_processed_loads: schema.identifier of its relation (taken from the
    node, so a dbt unit test of the model, whose `this` is a fixture, has one too). -#}
{% macro processed_model_key() -%}
    {{ model.schema }}.{{ model.alias or model.name }}
{%- endmacro %}


{#- The load ids of raw_schema this model is to read now: the loads of this invocation's batch it
    has not processed (every one on a first build or full refresh). Read through the ops sources,
    so unit tests give them as fixtures (marts/*/_*__models.yml, unit_tests). -#}
{% macro unprocessed_loads(raw_schema) %}
    select b.load_id
      from {{ source('ops', 'dbt_load_batch') }} as b
     where b.invocation_id = '{{ invocation_id }}'
       and b.schema_name = '{{ raw_schema }}'
    {% if is_incremental() %}
       and not exists (
            select 1
              from {{ source('ops', 'dbt_processed_loads') }} as p
             where p.model = '{{ processed_model_key() }}'
               and p.load_id = b.load_id
       )
    {% endif %}
{% endmacro %}


{% macro mark_loads_processed(raw_schema) %}
    {% if flags.FULL_REFRESH %}
    delete from ops.dbt_processed_loads
     where model = '{{ processed_model_key() }}' and schema_name = '{{ raw_schema }}';
    {% endif %}
    insert into ops.dbt_processed_loads (model, schema_name, load_id)
    select '{{ processed_model_key() }}', b.schema_name, b.load_id
      from ops.dbt_load_batch as b
     where b.invocation_id = '{{ invocation_id }}'
       and b.schema_name = '{{ raw_schema }}'
    {%- for upstream in marking_upstream_models(raw_schema) %}
       and exists (
            select 1
              from ops.dbt_processed_loads as up
             where up.model = '{{ upstream }}'
               and up.load_id = b.load_id
       )
    {%- endfor %}
    on conflict do nothing
{% endmacro %}


{#-
  The nearest upstream models (through views, ephemerals and plain tables) that themselves mark
  loads of raw_schema processed: their processed-state keys (schema.identifier).
-#}
{% macro marking_upstream_models(raw_schema) %}
    {%- set found = [] -%}
    {%- if execute and model is defined and model.depends_on is defined -%}
        {%- do _collect_marking_upstream(model.depends_on.nodes, raw_schema, found, []) -%}
    {%- endif -%}
    {{ return(found) }}
{% endmacro %}


{% macro _collect_marking_upstream(node_ids, raw_schema, found, seen) %}
    {%- set marker = "mark_loads_processed('" ~ raw_schema ~ "')" -%}
    {%- for node_id in node_ids if node_id.startswith('model.') and node_id not in seen -%}
        {%- do seen.append(node_id) -%}
        {%- set node = graph.nodes.get(node_id) -%}
        {%- if node -%}
            {%- set marks = [] -%}
            {%- for hook in node.config.get('post-hook', node.config.get('post_hook', [])) -%}
                {%- set hook_sql = hook.sql if hook.sql is defined else hook -%}
                {%- if marker in hook_sql -%}{%- do marks.append(hook_sql) -%}{%- endif -%}
            {%- endfor -%}
            {%- if marks -%}
                {%- set key = node.schema ~ '.' ~ (node.alias or node.name) -%}
                {%- if key not in found -%}{%- do found.append(key) -%}{%- endif -%}
            {%- else -%}
                {%- do _collect_marking_upstream(node.depends_on.nodes, raw_schema, found, seen) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
{% endmacro %}


{#- Raw tables of a schema that carry the agent (user_id) and the load (_dlt_load_id). -#}
{% macro raw_tables_with_agent(raw_schema) %}
    {%- set tables = [] -%}
    {%- if execute -%}
        {%- set result = run_query(
            "select c.table_name from information_schema.columns as c "
            ~ "where c.table_schema = '" ~ raw_schema ~ "' and c.column_name = 'user_id' "
            ~ "and left(c.table_name, 5) <> '_dlt_' and exists (select 1 from information_schema.columns as l "
            ~ "where l.table_schema = c.table_schema and l.table_name = c.table_name "
            ~ "and l.column_name = '_dlt_load_id') order by 1") -%}
        {%- for row in result.rows -%}{%- do tables.append(row[0]) -%}{%- endfor -%}
    {%- endif -%}
    {{ return(tables) }}
{% endmacro %}


{#- The loads of one raw schema this model has not processed and ops.sync_runs does not name. -#}
{% macro unmapped_unprocessed_loads(raw_schema) %}
    select u.load_id
      from ({{ unprocessed_loads(raw_schema) }}) as u
     where not exists (
            select 1
              from ops.sync_runs as r
             where r.source = '{{ raw_schema | replace('raw_', '', 1) }}'
               and r.load_id = u.load_id
               and r.user_id is not null
     )
{% endmacro %}


{#-
  How many loads of each raw schema this model has not processed, and how many of them
  ops.sync_runs does not map to an agent: {schema: [loads, unmapped]}. Asked when the model runs.
-#}
{% macro unprocessed_load_counts(raw_schemas) %}
    {%- set counts = {} -%}
    {%- if execute -%}
        {%- set parts = [] -%}
        {%- for schema in raw_schemas -%}
            {%- do parts.append(
                "select '" ~ schema ~ "' as schema_name, "
                ~ "(select count(*) from (" ~ unprocessed_loads(schema) ~ ") as u) as loads, "
                ~ "(select count(*) from (" ~ unmapped_unprocessed_loads(schema) ~ ") as m) as unmapped") -%}
        {%- endfor -%}
        {%- set result = run_query(parts | join(' union all ')) -%}
        {%- for row in result.rows -%}
            {%- do counts.update({row[0]: [row[1] | int, row[2] | int]}) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(counts) }}
{% endmacro %}


{#-
  A subquery of the agents (user_id) with loads in raw_schemas that this model has not processed
  (on a first build / full refresh: every agent with a committed load). Mapping: ops.sync_runs,
  plus the raw tables' user_id for loads sync_runs does not name (only scanned when there are some).
-#}
{% macro agents_with_unprocessed_loads(raw_schemas, counts=none) %}
    {%- set counts = counts if counts is not none else unprocessed_load_counts(raw_schemas) -%}
    {%- set parts = [] -%}
    {%- for schema in raw_schemas -%}
        {%- do parts.append(
            "select r.user_id from ops.sync_runs as r where r.source = '"
            ~ (schema | replace('raw_', '', 1)) ~ "' and r.user_id is not null and r.load_id in ("
            ~ unprocessed_loads(schema) ~ ")") -%}
        {%- if counts.get(schema, [0, 0])[1] > 0 -%}
            {%- for table in raw_tables_with_agent(schema) -%}
                {%- do parts.append(
                    "select cast(t.user_id as bigint) from " ~ schema ~ "." ~ adapter.quote(table)
                    ~ " as t where t._dlt_load_id in (" ~ unmapped_unprocessed_loads(schema) ~ ")") -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor %}
    {{ parts | join('\n    union\n    ') }}
{% endmacro %}


{#-
  A predicate limiting a per-agent recomputed mart to the affected agents: true on a first build
  or full refresh, false when this model has no unprocessed load in raw_schemas, else
  `<column> in (agents_with_unprocessed_loads)`.
-#}
{% macro affected_agents_filter(column, raw_schemas) %}
    {%- if not execute or not is_incremental() -%}
        true
    {%- else -%}
        {%- set counts = unprocessed_load_counts(raw_schemas) -%}
        {%- set total = [] -%}
        {%- for schema in raw_schemas -%}{%- do total.append(counts.get(schema, [0, 0])[0]) -%}{%- endfor -%}
        {%- if total | sum == 0 -%}
            false
        {%- else -%}
            {{ column }} in ({{ agents_with_unprocessed_loads(raw_schemas, counts) }})
        {%- endif -%}
    {%- endif -%}
{% endmacro %}


{#-
  pre_hook of a per-agent recomputed mart: on an incremental run, delete the affected agents' rows
  (inside the model's transaction, before its select is inserted). Nothing when no agent is affected.
-#}
{% macro delete_affected_agents(raw_schemas) %}
    {%- if execute and is_incremental() -%}
        {%- set predicate = affected_agents_filter('user_id', raw_schemas) | trim -%}
        {%- if predicate != 'false' -%}
    delete from {{ this }} where {{ predicate }}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}


{#
  One call configures a per-agent recomputed mart and returns its agent filter:

      {%- set affected = per_agent_incremental(['raw_rezen', 'raw_skyslope']) %}
      ... where {{ affected }} ...

  It sets materialized='incremental' (append), the pre-hook delete_affected_agents(raw_schemas)
  and one post-hook mark_loads_processed(schema) per raw schema, and returns
  affected_agents_filter(column, raw_schemas).
#}
{% macro per_agent_incremental(raw_schemas, column='user_id') %}
    {%- set post = [] -%}
    {%- for schema in raw_schemas -%}
        {%- do post.append("{{ mark_loads_processed('" ~ schema ~ "') }}") -%}
    {%- endfor -%}
    {{- config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook=["{{ delete_affected_agents(" ~ (raw_schemas | tojson) ~ ") }}"],
        post_hook=post,
    ) -}}
    {{ return(affected_agents_filter(column, raw_schemas)) }}
{% endmacro %}
