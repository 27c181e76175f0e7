-- Every loaded version of the agent's upline (sponsor-tree flattenedSponsors).
-- One row per raw row (raw_rezen.sponsors), typed and renamed. Read as known agents by
-- marts/brokerage/unresolved_agent_references.sql.

with

source as (

    select
        user_id,
        id,
        agent_id,
        first_name,
        last_name,
        level,
        status,
        _dlt_load_id
    from {{ source_or_empty('rezen', 'sponsors') }}

),

renamed as (

    select
        cast(user_id as bigint) as user_id,
        cast(id as text) as sponsor_id,
        cast(agent_id as text) as agent_id,
        cast(first_name as text) as first_name,
        cast(last_name as text) as last_name,
        cast(level as integer) as level,
        cast(status as text) as sponsor_status,
        cast(_dlt_load_id as text) as _dlt_load_id,
        {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
    from source

)

select * from renamed
