{{ config(materialized='view') }}
-- latest version per agent and text_message_id: newest updated_at first, then the newest load
select distinct on (user_id, text_message_id) *
  from {{ ref('base_fub__text_messages') }}
 order by user_id, text_message_id, updated_at desc nulls last, cast(_dlt_load_id as numeric) desc
