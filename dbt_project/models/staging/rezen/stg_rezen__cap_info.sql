-- Every loaded version of the agent's cap info (yenta cap-info; shape unconfirmed).
-- One row per raw row (raw_rezen.cap_info), typed and renamed. The newest version per agent is
-- kept by marts/brokerage/agent_cap.sql.

with

source as (

    select
        user_id,
        id,
        cap_year_start,
        cap_year_end,
        cap_status,
        brokerage_cap__amount,
        brokerage_cap_paid__amount,
        team_cap__amount,
        team_cap_paid__amount,
        brokerage_cap__currency,
        _dlt_load_id
    from {{ source_or_empty('rezen', 'cap_info') }}

),

renamed as (

    select
        cast(user_id as bigint) as user_id,
        cast(id as text) as agent_id,
        {{ rezen_date('cap_year_start') }} as cap_year_start,
        {{ rezen_date('cap_year_end') }} as cap_year_end,
        cast(cap_status as text) as cap_status,
        cast(brokerage_cap__amount as numeric) as brokerage_cap_amount,
        cast(brokerage_cap_paid__amount as numeric) as brokerage_cap_paid_amount,
        cast(team_cap__amount as numeric) as team_cap_amount,
        cast(team_cap_paid__amount as numeric) as team_cap_paid_amount,
        cast(brokerage_cap__currency as text) as currency,
        cast(_dlt_load_id as text) as _dlt_load_id,
        {{ rezen_loaded_at('_dlt_load_id') }} as loaded_at
    from source

)

select * from renamed
