-- Every loaded version of a FUB deal: one row per raw row (raw_fub.deals),
-- typed and renamed. The newest version per agent and id is kept by marts/crm/deals.sql.

with

source as (

    select
        user_id,
        _dlt_load_id,
        id,
        name,
        type,
        status,
        price,
        created_at,
        projected_close_date,
        pipeline_id,
        pipeline_name,
        stage_id,
        stage_name,
        entered_stage_at,
        commission_value,
        agent_commission,
        team_commission,
        time_to_close,
        people,
        users,
        -- FUB custom fields (custom_* columns, different per account) as one JSON object
        {{ fub_custom_fields('deals') }} as custom_fields
    from {{ source_or_empty('fub', 'deals') }}

),

renamed as (

    select
        cast(user_id as bigint) as user_id,
        cast(_dlt_load_id as text) as _dlt_load_id,
        cast(id as bigint) as deal_id,
        cast(name as text) as deal_name,
        cast(type as bigint) as deal_type,
        cast(status as text) as deal_status,
        cast(price as numeric) as price,
        cast(created_at as timestamptz) as created_at,
        cast(left(cast(projected_close_date as text), 10) as date) as projected_close_date,
        cast(pipeline_id as bigint) as pipeline_id,
        cast(pipeline_name as text) as pipeline_name,
        cast(stage_id as bigint) as deal_stage_id,
        cast(stage_name as text) as deal_stage_name,
        cast(entered_stage_at as timestamptz) as entered_stage_at,
        cast(commission_value as numeric) as commission_value,
        cast(agent_commission as numeric) as agent_commission,
        cast(team_commission as numeric) as team_commission,
        cast(time_to_close as bigint) as time_to_close_days,
        cast(people as jsonb) as people,
        cast(users as jsonb) as users,
        custom_fields
    from source

)

select * from renamed
