-- Every loaded version of a FUB appointment: one row per raw row (raw_fub.appointments),
-- typed and renamed. The newest version per agent and id is kept by marts/crm/appointments.sql.

with

source as (

    select
        user_id,
        _dlt_load_id,
        id,
        created,
        updated,
        title,
        description,
        start,
        "end",
        timezone,
        all_day,
        location,
        type,
        outcome,
        invitees
    from {{ source_or_empty('fub', 'appointments') }}

),

renamed as (

    select
        cast(user_id as bigint) as user_id,
        cast(_dlt_load_id as text) as _dlt_load_id,
        cast(id as bigint) as appointment_id,
        cast(created as timestamptz) as created_at,
        cast(updated as timestamptz) as updated_at,
        cast(title as text) as title,
        cast(description as text) as description,
        cast(start as timestamptz) as starts_at,
        cast("end" as timestamptz) as ends_at,
        cast(timezone as text) as timezone,
        cast(all_day as boolean) as is_all_day,
        cast(location as text) as location,
        cast(type as text) as appointment_type,
        cast(outcome as text) as outcome,
        cast(invitees as jsonb) as invitees
    from source

)

select * from renamed
