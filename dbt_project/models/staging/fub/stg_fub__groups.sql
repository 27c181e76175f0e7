{{ config(materialized='view') }}
-- latest version per agent and group_id: the newest load
select distinct on (user_id, group_id) *
  from {{ ref('base_fub__groups') }}
 order by user_id, group_id, cast(_dlt_load_id as numeric) desc
