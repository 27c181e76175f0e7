{{ config(materialized='view') }}
-- latest version per agent and call_id: newest updated_at first, then the newest load
select distinct on (user_id, call_id) *
  from {{ ref('base_fub__calls') }}
 order by user_id, call_id, updated_at desc nulls last, cast(_dlt_load_id as numeric) desc
