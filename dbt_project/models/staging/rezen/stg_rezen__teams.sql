-- Every loaded version of the agent's reZEN teams (yenta teams/{id}).
-- One row per raw row (raw_rezen.teams), typed and renamed. The newest version per team is kept
-- by marts/brokerage/teams.sql.

with

source as (

    select
        user_id,
        id,
        name,
        team_type,
        status,
        created_at,
        _dlt_load_id
    from {{ source_or_empty('rezen', 'teams') }}

),

renamed as (

    select
        cast(user_id as bigint) as user_id,
        cast(id as text) as team_id,
        cast(name as text) as team_name,
        cast(team_type as text) as team_type,
        cast(status as text) as team_status,
        {{ rezen_timestamp('created_at') }} as created_at,
        cast(_dlt_load_id as text) as _dlt_load_id,
        {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
    from source

)

select * from renamed
