{#
  FUB deletion flags: post-hooks of the FUB marts, run after each merge (part of the processed
  state, like mark_loads_processed). A deleted record keeps its row with is_deleted = true and
  deleted_at; a row seen again (a newer version, or FUB serving the id again) is un-flagged.
  What each raw table means: dlt_pipelines/fub/deletions.py and the sources YAML.
#}


{#
  flag_deleted_fub_rows(entity, id_column), for people, deals, events, calls, appointments and
  text messages: a row is deleted when the newest evidence about its id, newer than the row's
  version, says gone:
  - raw_fub.id_changes (the fub.deletions step's walks: 'gone', or 'back' when served again),
  - raw_fub.deleted_ids (*Deleted webhooks),
  - for agents not checked since full snapshots were replaced, their latest id snapshot
    (raw_fub.id_snapshot_runs / id_snapshots) not containing the id.
  Evidence is ordered by load (numeric load ids), a 'gone' first among equals.
#}
{% macro flag_deleted_fub_rows(entity, id_column) %}
{%- set deleted -%}
with evidence as (
    select user_id, id, cast(_dlt_load_id as numeric) as load_id, change = 'gone' as gone,
           observed_at as seen_at
      from {{ source_or_empty('fub', 'id_changes') }}
     where entity = '{{ entity }}'
    union all
    select user_id, id, cast(_dlt_load_id as numeric), true, deleted_at
      from {{ source_or_empty('fub', 'deleted_ids') }}
     where entity = '{{ entity }}'
    union all
    select mart.user_id, mart.{{ id_column }}, cast(latest_snapshot._dlt_load_id as numeric), true,
           latest_snapshot.taken_at
      from (
            select distinct on (user_id) user_id, _dlt_load_id, taken_at
              from {{ source_or_empty('fub', 'id_snapshot_runs') }}
             where entity = '{{ entity }}'
             order by user_id, cast(_dlt_load_id as numeric) desc
      ) as latest_snapshot
      join {{ this }} as mart
        on mart.user_id = latest_snapshot.user_id
     where not exists (
            select 1
              from {{ source_or_empty('fub', 'id_snapshots') }}
             where id_snapshots.user_id = mart.user_id
               and id_snapshots.entity = '{{ entity }}'
               and id_snapshots._dlt_load_id = latest_snapshot._dlt_load_id
               and id_snapshots.id = mart.{{ id_column }}
     )
), newest as (
    select distinct on (user_id, id) user_id, id, load_id, gone, seen_at
      from evidence
     order by user_id, id, load_id desc, gone desc
), deleted as (
    select newest.user_id, newest.id, newest.seen_at as deleted_at
      from newest
      join {{ this }} as mart
        on mart.user_id = newest.user_id
       and mart.{{ id_column }} = newest.id
       and cast(mart.load_id as numeric) < newest.load_id
     where newest.gone
)
{%- endset -%}
{{ deleted }}
update {{ this }} as mart
   set is_deleted = true,
       deleted_at = coalesce(mart.deleted_at, deleted.deleted_at, now())
  from deleted
 where deleted.user_id = mart.user_id
   and deleted.id = mart.{{ id_column }}
   and not mart.is_deleted;
{{ deleted }}
update {{ this }} as mart
   set is_deleted = false,
       deleted_at = null
 where mart.is_deleted
   and not exists (
        select 1 from deleted where deleted.user_id = mart.user_id and deleted.id = mart.{{ id_column }}
   )
{% endmacro %}


{#
  flag_fub_rows_not_served(table, id_column), for the reference marts (users, stages, pipelines,
  groups), read in full on every run: a row whose version is older than the agent's newest load
  of that table is no longer served, so it is flagged deleted (and un-flagged when served again).
#}
{% macro flag_fub_rows_not_served(table, id_column) %}
with newest_load as (
    select user_id, max(cast(_dlt_load_id as numeric)) as load_id
      from {{ source_or_empty('fub', table) }}
     group by user_id
)
update {{ this }} as mart
   set is_deleted = cast(mart.load_id as numeric) < newest_load.load_id,
       deleted_at = case
           when cast(mart.load_id as numeric) < newest_load.load_id then coalesce(mart.deleted_at, now())
       end
  from newest_load
 where newest_load.user_id = mart.user_id
{% endmacro %}
