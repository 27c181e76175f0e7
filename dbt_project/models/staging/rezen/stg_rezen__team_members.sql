-- Every loaded version of team roster items (members, leaders, admins).
-- One row per raw row (raw_rezen.team_members), typed and renamed. A team's newest load is its
-- current roster: marts/brokerage/team_roster.sql.

with

source as (

    select
        user_id,
        id,
        team_id,
        agent__id,
        agent__first_name,
        agent__last_name,
        agent__email_address,
        agent__agent_status,
        agent__join_date,
        roles,
        _dlt_load_id
    from {{ source_or_empty('rezen', 'team_members') }}

),

renamed as (

    select
        cast(user_id as bigint) as user_id,
        cast(id as text) as roster_item_id,
        cast(team_id as text) as team_id,
        cast(agent__id as text) as agent_id,
        cast(agent__first_name as text) as first_name,
        cast(agent__last_name as text) as last_name,
        cast(agent__email_address as text) as email_address,
        cast(agent__agent_status as text) as agent_status,
        {{ rezen_date('agent__join_date') }} as join_date,
        cast(roles as text) as roles,
        cast(_dlt_load_id as text) as _dlt_load_id,
        {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
    from source

)

select * from renamed
