{{ config(materialized='view') }}
-- latest version per agent and person_id: newest updated_at first, then the newest load
select distinct on (user_id, person_id) *
  from {{ ref('base_fub__people') }}
 order by user_id, person_id, updated_at desc nulls last, cast(_dlt_load_id as numeric) desc
