{{ config(materialized='view') }}
-- latest version per agent and SkySlope user: the newest load
select distinct on (user_id, user_guid) *
  from {{ ref('base_skyslope__users') }}
 order by user_id, user_guid, cast(_dlt_load_id as numeric) desc
