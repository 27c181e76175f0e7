-- Every loaded version of a FUB person (trash included): one row per raw row (raw_fub.people),
-- typed and renamed. The newest version per agent and id is kept by marts/crm/people.sql.

with

source as (

    select
        user_id,
        _dlt_load_id,
        id,
        created,
        updated,
        created_via,
        last_activity,
        name,
        first_name,
        last_name,
        stage,
        stage_id,
        type,
        source,
        source_id,
        source_url,
        lead_flow_id,
        contacted,
        price,
        assigned_user_id,
        assigned_to,
        assigned_lender_id,
        assigned_pond_id,
        claimed,
        website_visits,
        tags,
        emails,
        phones,
        addresses,
        collaborators,
        -- FUB custom fields (custom_* columns, different per account) as one JSON object
        {{ fub_custom_fields('people') }} as custom_fields
    from {{ source_or_empty('fub', 'people') }}

),

renamed as (

    select
        cast(user_id as bigint) as user_id,
        cast(_dlt_load_id as text) as _dlt_load_id,
        cast(id as bigint) as person_id,
        cast(created as timestamptz) as created_at,
        cast(updated as timestamptz) as updated_at,
        cast(created_via as text) as created_via,
        cast(last_activity as timestamptz) as last_activity_at,
        cast(name as text) as full_name,
        cast(first_name as text) as first_name,
        cast(last_name as text) as last_name,
        cast(stage as text) as stage_name,
        cast(stage_id as bigint) as stage_id,
        cast(type as text) as person_type,
        cast(source as text) as lead_source,
        cast(source_id as bigint) as lead_source_id,
        cast(source_url as text) as lead_source_url,
        cast(lead_flow_id as bigint) as lead_flow_id,
        cast(contacted as text) not in ('0', 'false') as is_contacted,  -- FUB sends 0/1
        cast(price as numeric) as price,
        cast(assigned_user_id as bigint) as assigned_user_id,
        cast(assigned_to as text) as assigned_to,
        cast(assigned_lender_id as bigint) as assigned_lender_id,
        cast(assigned_pond_id as bigint) as assigned_pond_id,
        cast(claimed as boolean) as is_claimed,
        cast(website_visits as bigint) as website_visits,
        cast(tags as jsonb) as tags,
        cast(emails as jsonb) as emails,
        cast(phones as jsonb) as phones,
        cast(addresses as jsonb) as addresses,
        cast(collaborators as jsonb) as collaborators,
        custom_fields
    from source

)

select * from renamed
