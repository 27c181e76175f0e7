{{ config(materialized='view') }}
-- latest version per agent and deal_id: the newest load
select distinct on (user_id, deal_id) *
  from {{ ref('base_fub__deals') }}
 order by user_id, deal_id, cast(_dlt_load_id as numeric) desc
