-- Every loaded version of the agent's front-line (tier-1 recruits).
-- One row per raw row (raw_rezen.front_line), typed and renamed. Read as known agents by
-- marts/brokerage/unresolved_agent_references.sql.

with

source as (

    select
        user_id,
        id,
        sponsor_id,
        first_name,
        last_name,
        status,
        join_date,
        size_of_network,
        _dlt_load_id
    from {{ source_or_empty('rezen', 'front_line') }}

),

renamed as (

    select
        cast(user_id as bigint) as user_id,
        cast(id as text) as agent_id,
        cast(sponsor_id as text) as sponsor_id,
        cast(first_name as text) as first_name,
        cast(last_name as text) as last_name,
        cast(status as text) as agent_status,
        {{ rezen_date('join_date') }} as join_date,
        cast(size_of_network as integer) as size_of_network,
        cast(_dlt_load_id as text) as _dlt_load_id,
        {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
    from source

)

select * from renamed
