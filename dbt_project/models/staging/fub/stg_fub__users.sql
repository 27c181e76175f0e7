{{ config(materialized='view') }}
-- latest version per agent and fub_user_id: newest updated_at first, then the newest load
select distinct on (user_id, fub_user_id) *
  from {{ ref('base_fub__users') }}
 order by user_id, fub_user_id, updated_at desc nulls last, cast(_dlt_load_id as numeric) desc
