{{ config(materialized='view') }}
-- latest version per agent and file: newest modifiedOn, then the newest load
select distinct on (user_id, sale_guid) *
  from {{ ref('base_skyslope__sales') }}
 order by user_id, sale_guid, modified_at desc nulls last, cast(_dlt_load_id as numeric) desc
