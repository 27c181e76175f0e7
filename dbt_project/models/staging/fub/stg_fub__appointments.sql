{{ config(materialized='view') }}
-- latest version per agent and appointment_id: newest updated_at first, then the newest load
select distinct on (user_id, appointment_id) *
  from {{ ref('base_fub__appointments') }}
 order by user_id, appointment_id, updated_at desc nulls last, cast(_dlt_load_id as numeric) desc
