{{ config(materialized='view') }}
-- latest version per agent and event_id: newest updated_at first, then the newest load
select distinct on (user_id, event_id) *
  from {{ ref('base_fub__events') }}
 order by user_id, event_id, updated_at desc nulls last, cast(_dlt_load_id as numeric) desc
