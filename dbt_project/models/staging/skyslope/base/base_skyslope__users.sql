{{ config(materialized='ephemeral') }}
with raw_users as (
    {% if relation_exists('raw_skyslope', 'users') %}
    select user_id, user_guid, cast(record as jsonb) as record, _dlt_load_id
      from {{ source('skyslope', 'users') }}
    {% else %}
    select cast(null as bigint) as user_id, cast(null as text) as user_guid,
           cast(null as jsonb) as record, cast(null as text) as _dlt_load_id
     where false
    {% endif %}
)
select
    cast(user_id as bigint) as user_id,
    user_guid,
    {{ skyslope_text("record->>'firstName'") }} as first_name,
    {{ skyslope_text("record->>'lastName'") }} as last_name,
    {{ skyslope_text("record->>'email'") }} as email,
    {{ skyslope_text("record->>'phone'") }} as phone,
    {{ skyslope_text("record->>'publicId'") }} as public_id,
    {{ skyslope_text("record->>'userType'") }} as user_type,
    record,
    _dlt_load_id
from raw_users
