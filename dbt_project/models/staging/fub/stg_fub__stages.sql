-- Every loaded version of a FUB person stage: one row per raw row (raw_fub.stages),
-- typed and renamed. The newest version per agent and id is kept by marts/crm/stages.sql.

with

source as (

    select
        user_id,
        _dlt_load_id,
        id,
        name,
        order_weight,
        is_protected,
        description,
        people_count
    from {{ source_or_empty('fub', 'stages') }}

),

renamed as (

    select
        cast(user_id as bigint) as user_id,
        cast(_dlt_load_id as text) as _dlt_load_id,
        cast(id as bigint) as stage_id,
        cast(name as text) as stage_name,
        cast(order_weight as bigint) as order_weight,
        cast(is_protected as boolean) as is_protected,
        cast(description as text) as description,
        cast(people_count as bigint) as people_count
    from source

)

select * from renamed
