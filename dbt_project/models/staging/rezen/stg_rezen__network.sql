-- Every loaded version of down-line agents (tiers 1-5, every status).
-- One row per raw row (raw_rezen.network), typed and renamed. The newest version per down-line
-- agent is kept by marts/brokerage/network.sql.

with

source as (

    select
        user_id,
        id,
        first_name,
        last_name,
        status,
        tier,
        sponsor_id,
        join_date,
        terminated_as_of,
        size_of_network,
        updated_at,
        _dlt_load_id
    from {{ source_or_empty('rezen', 'network') }}

),

renamed as (

    select
        cast(user_id as bigint) as user_id,
        cast(id as text) as agent_id,
        cast(first_name as text) as first_name,
        cast(last_name as text) as last_name,
        cast(status as text) as agent_status,
        cast(tier as integer) as tier,
        cast(sponsor_id as text) as sponsor_id,
        {{ rezen_date('join_date') }} as join_date,
        {{ rezen_date('terminated_as_of') }} as terminated_as_of,
        cast(size_of_network as integer) as size_of_network,
        {{ rezen_timestamp('updated_at') }} as updated_at,
        cast(_dlt_load_id as text) as _dlt_load_id,
        {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
    from source

)

select * from renamed
