-- Every loaded version of the agent's own reZEN profile (yenta agents/me).
-- One row per raw row (raw_rezen.agent), typed and renamed. The newest version per agent is kept
-- by marts/brokerage/agents.sql.

with

source as (

    select
        user_id,
        id,
        first_name,
        last_name,
        email_address,
        phone_number,
        status,
        agent_status,
        join_date,
        anniversary_date,
        created_at,
        size_of_network,
        _dlt_load_id
    from {{ source_or_empty('rezen', 'agent') }}

),

renamed as (

    select
        cast(user_id as bigint) as user_id,
        cast(id as text) as agent_id,
        cast(first_name as text) as first_name,
        cast(last_name as text) as last_name,
        cast(email_address as text) as email_address,
        cast(phone_number as text) as phone_number,
        cast(coalesce(agent_status, status) as text) as agent_status,
        {{ rezen_date('join_date') }} as join_date,
        {{ rezen_date('anniversary_date') }} as anniversary_date,
        {{ rezen_timestamp('created_at') }} as created_at,
        cast(size_of_network as integer) as size_of_network,
        cast(_dlt_load_id as text) as _dlt_load_id,
        {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
    from source

)

select * from renamed
