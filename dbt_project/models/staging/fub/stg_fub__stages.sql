{{ config(materialized='view') }}
-- latest version per agent and stage_id: the newest load
select distinct on (user_id, stage_id) *
  from {{ ref('base_fub__stages') }}
 order by user_id, stage_id, cast(_dlt_load_id as numeric) desc
