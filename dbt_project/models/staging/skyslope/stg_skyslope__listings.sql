{{ config(materialized='view') }}
-- latest version per agent and file: newest modifiedOn, then the newest load
select distinct on (user_id, listing_guid) *
  from {{ ref('base_skyslope__listings') }}
 order by user_id, listing_guid, modified_at desc nulls last, cast(_dlt_load_id as numeric) desc
