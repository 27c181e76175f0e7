-- Every loaded version of a FUB user of the account: one row per raw row (raw_fub.users),
-- typed and renamed. The newest version per agent and id is kept by marts/crm/fub_users.sql.

with

source as (

    select
        user_id,
        _dlt_load_id,
        id,
        created,
        updated,
        name,
        first_name,
        last_name,
        email,
        phone,
        role,
        status,
        timezone,
        is_owner
    from {{ source_or_empty('fub', 'users') }}

),

renamed as (

    select
        cast(user_id as bigint) as user_id,
        cast(_dlt_load_id as text) as _dlt_load_id,
        cast(id as bigint) as fub_user_id,
        cast(created as timestamptz) as created_at,
        cast(updated as timestamptz) as updated_at,
        cast(name as text) as full_name,
        cast(first_name as text) as first_name,
        cast(last_name as text) as last_name,
        cast(email as text) as email,
        cast(phone as text) as phone,
        cast(role as text) as user_role,
        cast(status as text) as user_status,
        cast(timezone as text) as timezone,
        cast(is_owner as boolean) as is_owner
    from source

)

select * from renamed
