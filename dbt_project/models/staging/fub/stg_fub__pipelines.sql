-- Every loaded version of a FUB deal pipeline: one row per raw row (raw_fub.pipelines),
-- typed and renamed. The newest version per agent and id is kept by marts/crm/pipelines.sql.

with

source as (

    select
        user_id,
        _dlt_load_id,
        id,
        name,
        description,
        order_weight,
        stages
    from {{ source_or_empty('fub', 'pipelines') }}

),

renamed as (

    select
        cast(user_id as bigint) as user_id,
        cast(_dlt_load_id as text) as _dlt_load_id,
        cast(id as bigint) as pipeline_id,
        cast(name as text) as pipeline_name,
        cast(description as text) as description,
        cast(order_weight as bigint) as order_weight,
        cast(stages as jsonb) as deal_stages
    from source

)

select * from renamed
