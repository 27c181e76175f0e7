-- Every loaded version of a FUB call: one row per raw row (raw_fub.calls),
-- typed and renamed. The newest version per agent and id is kept by marts/crm/calls.sql.

with

source as (

    select
        user_id,
        _dlt_load_id,
        id,
        created,
        updated,
        person_id,
        fub_user_id,
        user_name,
        phone,
        from_number,
        to_number,
        outcome,
        is_incoming,
        duration,
        note
    from {{ source_or_empty('fub', 'calls') }}

),

renamed as (

    select
        cast(user_id as bigint) as user_id,
        cast(_dlt_load_id as text) as _dlt_load_id,
        cast(id as bigint) as call_id,
        cast(created as timestamptz) as created_at,
        cast(updated as timestamptz) as updated_at,
        cast(person_id as bigint) as person_id,
        cast(fub_user_id as bigint) as fub_user_id,
        cast(user_name as text) as user_name,
        cast(phone as text) as phone,
        cast(from_number as text) as from_number,
        cast(to_number as text) as to_number,
        cast(outcome as text) as outcome,
        cast(is_incoming as boolean) as is_incoming,
        cast(duration as bigint) as duration_seconds,
        cast(note as text) as note
    from source

)

select * from renamed
