-- Every loaded version of a FUB lead event (web and inquiry activity): one row per raw row (raw_fub.events),
-- typed and renamed. The newest version per agent and id is kept by marts/crm/events.sql.

with

source as (

    select
        user_id,
        _dlt_load_id,
        id,
        created,
        updated,
        occurred,
        person_id,
        type,
        source,
        message,
        description,
        page_url,
        page_duration,
        property,
        property_search
    from {{ source_or_empty('fub', 'events') }}

),

renamed as (

    select
        cast(user_id as bigint) as user_id,
        cast(_dlt_load_id as text) as _dlt_load_id,
        cast(id as bigint) as event_id,
        cast(created as timestamptz) as created_at,
        cast(updated as timestamptz) as updated_at,
        cast(occurred as timestamptz) as occurred_at,
        cast(person_id as bigint) as person_id,
        cast(type as text) as event_type,
        cast(source as text) as event_source,
        cast(message as text) as message,
        cast(description as text) as description,
        cast(page_url as text) as page_url,
        cast(page_duration as bigint) as page_duration_seconds,
        cast(property as jsonb) as property,
        cast(property_search as jsonb) as property_search
    from source

)

select * from renamed
