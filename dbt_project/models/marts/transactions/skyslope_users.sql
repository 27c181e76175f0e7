{{ config(
    materialized='incremental',
    unique_key=['user_id', 'user_guid'],
    on_schema_change='append_new_columns',
    post_hook=["{{ mark_loads_processed('raw_skyslope') }}"],
) }}
-- only loads this mart has not merged yet; the newest version per file wins
with new_versions as (
    select *
      from {{ ref('base_skyslope__users') }}
     where _dlt_load_id in ({{ unprocessed_loads('raw_skyslope') }})
), latest as (
    select distinct on (user_id, user_guid) *
      from new_versions
     order by user_id, user_guid, cast(_dlt_load_id as numeric) desc
)
select
    latest.user_id,
    latest.user_guid,
    latest.first_name,
    latest.last_name,
    latest.email,
    latest.phone,
    latest.public_id,
    latest.user_type,
    latest._dlt_load_id as load_id
from latest
{% if is_incremental() %}
left join {{ this }} as existing
    on existing.user_id = latest.user_id
   and existing.user_guid = latest.user_guid
where existing.user_guid is null
   or cast(latest._dlt_load_id as numeric) >= cast(existing.load_id as numeric)
{% endif %}
