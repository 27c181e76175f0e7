{{ config(materialized='view') }}
-- latest version per agent and pipeline_id: the newest load
select distinct on (user_id, pipeline_id) *
  from {{ ref('base_fub__pipelines') }}
 order by user_id, pipeline_id, cast(_dlt_load_id as numeric) desc
