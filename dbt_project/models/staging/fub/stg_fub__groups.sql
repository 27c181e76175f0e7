-- Every loaded version of a FUB lead-routing group: one row per raw row (raw_fub.groups),
-- typed and renamed. The newest version per agent and id is kept by marts/crm/groups.sql.

with

source as (

    select
        user_id,
        _dlt_load_id,
        id,
        name,
        type,
        distribution,
        default_user_id,
        claim_window,
        is_primary,
        users
    from {{ source_or_empty('fub', 'groups') }}

),

renamed as (

    select
        cast(user_id as bigint) as user_id,
        cast(_dlt_load_id as text) as _dlt_load_id,
        cast(id as bigint) as group_id,
        cast(name as text) as group_name,
        cast(type as text) as group_type,
        cast(distribution as text) as distribution,
        cast(default_user_id as bigint) as default_fub_user_id,
        cast(claim_window as bigint) as claim_window_seconds,
        cast(is_primary as boolean) as is_primary,
        cast(users as jsonb) as members
    from source

)

select * from renamed
