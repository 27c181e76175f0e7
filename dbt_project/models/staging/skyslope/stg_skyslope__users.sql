-- Every loaded version of a user of the agent's SkySlope account: one row per raw row
-- (raw_skyslope.users), the fields read out of the user object as served, cleaned of control
-- characters. The newest version per user is kept by marts/transactions/skyslope_users.sql.

with

source as (

    select
        user_id,
        user_guid,
        record,
        _dlt_load_id
    from {{ source_or_empty('skyslope', 'users') }}

),

typed as (

    select
        cast(user_id as bigint) as user_id,
        cast(user_guid as text) as user_guid,
        {{ skyslope_text("record->>'firstName'") }} as first_name,
        {{ skyslope_text("record->>'lastName'") }} as last_name,
        {{ skyslope_text("record->>'email'") }} as email,
        {{ skyslope_text("record->>'phone'") }} as phone,
        {{ skyslope_text("record->>'publicId'") }} as public_id,
        {{ skyslope_text("record->>'userType'") }} as user_type,
        cast(record as jsonb) as record,
        cast(_dlt_load_id as text) as _dlt_load_id
    from source

)

select * from typed
