{#
  FUB helpers.

  fub_base(table, columns, custom_prefix=none): the typed, renamed select over raw_fub.<table>
  (all versions). columns = [(out_name, raw_column, sql_type[, expression with {c}])]. A raw
  column dlt has not created yet (a field always null so far) becomes a typed null, and a raw
  table that does not exist yet yields a typed, empty select, so the project builds on an empty
  database. With custom_prefix, every raw column starting with it (FUB custom fields, whose names
  differ per account) is folded into one jsonb column `custom_fields`.
#}
{% macro fub_base(table, columns, custom_prefix=none) %}
{%- set src = source('fub', table) -%}
{%- set rel = raw_relation('raw_fub', table) -%}
{%- if rel is not none -%}
{%- set existing = adapter.get_columns_in_relation(rel) | map(attribute='name') | list -%}
{%- set customs = [] -%}
{%- for c in existing if custom_prefix and c.startswith(custom_prefix) -%}
{%- do customs.append(c) -%}
{%- endfor -%}
select
    cast(user_id as bigint) as user_id,
    cast(_dlt_load_id as text) as _dlt_load_id,
    {%- for col in columns %}
    {%- set out, raw, typ = col[0], col[1], col[2] %}
    {%- if raw in existing %}
    {%- set expr = (col[3] | replace('{c}', adapter.quote(raw))) if col | length > 3 else adapter.quote(raw) %}
    cast({{ expr }} as {{ typ }}) as {{ out }}{{ "," if not loop.last or custom_prefix }}
    {%- else %}
    cast(null as {{ typ }}) as {{ out }}{{ "," if not loop.last or custom_prefix }}
    {%- endif %}
    {%- endfor %}
    {%- if custom_prefix %}
    {%- if customs %}
    jsonb_strip_nulls(jsonb_build_object(
        {%- for c in customs %}
        '{{ c }}', {{ adapter.quote(c) }}{{ "," if not loop.last }}
        {%- endfor %}
    )) as custom_fields
    {%- else %}
    cast('{}' as jsonb) as custom_fields
    {%- endif %}
    {%- endif %}
from {{ src }}
{%- else %}
select
    cast(null as bigint) as user_id,
    cast(null as text) as _dlt_load_id,
    {%- for col in columns %}
    cast(null as {{ col[2] }}) as {{ col[0] }}{{ "," if not loop.last or custom_prefix }}
    {%- endfor %}
    {%- if custom_prefix %}
    cast(null as jsonb) as custom_fields
    {%- endif %}
where false
{%- endif %}
{% endmacro %}


{#
  fub_flag_deletions(entity, id_column): post-hook for a FUB mart. A row is deleted when the
  newest evidence about its id, newer than the row's version, says gone:
  - raw_fub.id_changes (the fub.deletions step's walks: 'gone', or 'back' when served again),
  - raw_fub.deleted_ids (*Deleted webhooks),
  - for agents not checked since full snapshots were replaced, their latest id snapshot
    (raw_fub.id_snapshot_runs / id_snapshots) not containing the id.
  Deleted rows are kept with is_deleted = true and deleted_at; a row seen again (a newer version,
  or 'back') is un-flagged.
#}
{% macro fub_flag_deletions(entity, id_column) %}
{%- set snaps = relation_exists('raw_fub', 'id_snapshot_runs') and relation_exists('raw_fub', 'id_snapshots') -%}
{%- set changes = relation_exists('raw_fub', 'id_changes') -%}
{%- set hooks = relation_exists('raw_fub', 'deleted_ids') -%}
{%- if not snaps and not hooks and not changes -%}
select 1
{%- else -%}
{%- set flagged -%}
with evidence as (
    select cast(null as bigint) as user_id, cast(null as bigint) as id,
           cast(null as numeric) as load_id, false as gone, cast(null as timestamptz) as seen_at
     where false
    {%- if changes %}
    union all
    select c.user_id, c.id, cast(c._dlt_load_id as numeric), c.change = 'gone', c.observed_at
      from raw_fub.id_changes as c
     where c.entity = '{{ entity }}'
    {%- endif %}
    {%- if hooks %}
    union all
    select d.user_id, d.id, cast(d._dlt_load_id as numeric), true, d.deleted_at
      from raw_fub.deleted_ids as d
     where d.entity = '{{ entity }}'
    {%- endif %}
    {%- if snaps %}
    union all
    select m.user_id, m.{{ id_column }}, cast(s._dlt_load_id as numeric), true, s.taken_at
      from (
            select distinct on (user_id) user_id, _dlt_load_id, taken_at
              from raw_fub.id_snapshot_runs
             where entity = '{{ entity }}'
             order by user_id, cast(_dlt_load_id as numeric) desc
      ) as s
      join {{ this }} as m
        on m.user_id = s.user_id
     where not exists (
            select 1
              from raw_fub.id_snapshots as i
             where i.user_id = m.user_id
               and i.entity = '{{ entity }}'
               and i._dlt_load_id = s._dlt_load_id
               and i.id = m.{{ id_column }}
     )
    {%- endif %}
), newest as (
    select distinct on (user_id, id) user_id, id, load_id, gone, seen_at
      from evidence
     order by user_id, id, load_id desc, gone desc
), deleted as (
    select n.user_id, n.id, n.seen_at as deleted_at
      from newest as n
      join {{ this }} as m
        on m.user_id = n.user_id
       and m.{{ id_column }} = n.id
       and cast(m.load_id as numeric) < n.load_id
     where n.gone
)
{%- endset -%}
{{ flagged }}
update {{ this }} as m
   set is_deleted = true,
       deleted_at = coalesce(m.deleted_at, d.deleted_at, now())
  from deleted as d
 where d.user_id = m.user_id
   and d.id = m.{{ id_column }}
   and not m.is_deleted;
{{ flagged }}
update {{ this }} as m
   set is_deleted = false,
       deleted_at = null
 where m.is_deleted
   and not exists (
        select 1 from deleted as d where d.user_id = m.user_id and d.id = m.{{ id_column }}
   )
{%- endif -%}
{% endmacro %}


{#- The usual FUB incremental mart body: new versions of unprocessed loads, latest per key,
    kept only when not older than what the mart has. -#}
{% macro fub_latest_versions(base_model, id_column, order_column) %}
with new_versions as (
    select *
      from {{ ref(base_model) }}
     where _dlt_load_id in ({{ unprocessed_loads('raw_fub') }})
), latest as (
    select distinct on (user_id, {{ id_column }}) *
      from new_versions
     order by user_id, {{ id_column }}, {{ order_column }} desc nulls last,
              cast(_dlt_load_id as numeric) desc
)
{% endmacro %}


{#
  fub_flag_absent(table, id_column): post-hook for FUB reference marts (users, stages,
  pipelines, groups), which are read in full on every run: a row whose latest version is older
  than the agent's newest load of that table is no longer served, so it is flagged deleted.
#}
{% macro fub_flag_absent(table, id_column) %}
{%- if relation_exists('raw_fub', table) -%}
with newest_load as (
    select user_id, max(cast(_dlt_load_id as numeric)) as load_id
      from raw_fub.{{ table }}
     group by user_id
)
update {{ this }} as m
   set is_deleted = cast(m.load_id as numeric) < n.load_id,
       deleted_at = case
           when cast(m.load_id as numeric) < n.load_id then coalesce(m.deleted_at, now())
       end
  from newest_load as n
 where n.user_id = m.user_id
{%- else -%}
select 1
{%- endif -%}
{% endmacro %}


{#- Generic test: at most one row per (user_id, <column>) — a FUB id is unique within an agent. -#}
{% test fub_unique_per_agent(model, column_name) %}
select user_id, {{ column_name }}, count(*) as n
  from {{ model }}
 group by user_id, {{ column_name }}
having count(*) > 1
{% endtest %}
