-- Every loaded version of revenue-share contributors per tier (all-time window).
-- One row per raw row (raw_rezen.contributors), typed and renamed. The agent's newest load is its
-- current list: marts/brokerage/contributors.sql.

with

source as (

    select
        user_id,
        id,
        first_name,
        last_name,
        tier,
        status,
        contribution_count,
        total_contribution__amount,
        total_contribution__currency,
        _dlt_load_id
    from {{ source_or_empty('rezen', 'contributors') }}

),

renamed as (

    select
        cast(user_id as bigint) as user_id,
        cast(id as text) as contributor_id,
        cast(first_name as text) as first_name,
        cast(last_name as text) as last_name,
        cast(tier as integer) as tier,
        cast(status as text) as agent_status,
        cast(contribution_count as integer) as contribution_count,
        cast(total_contribution__amount as numeric) as total_contribution_amount,
        cast(total_contribution__currency as text) as currency,
        cast(_dlt_load_id as text) as _dlt_load_id,
        {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
    from source

)

select * from renamed
