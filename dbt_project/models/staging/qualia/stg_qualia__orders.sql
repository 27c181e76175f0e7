{{ config(materialized='view') }}
-- latest version per agent and order: the newest load (Qualia exposes no modified date)
select distinct on (user_id, order_id) *
  from {{ ref('base_qualia__orders') }}
 order by user_id, order_id, cast(_dlt_load_id as numeric) desc
