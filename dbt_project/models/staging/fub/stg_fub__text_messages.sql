-- Every loaded version of a FUB text message: one row per raw row (raw_fub.text_messages),
-- typed and renamed. The newest version per agent and id is kept by marts/crm/text_messages.sql.

with

source as (

    select
        user_id,
        _dlt_load_id,
        id,
        created,
        updated,
        person_id,
        fub_user_id,
        user_name,
        status,
        message,
        from_number,
        to_number,
        sent,
        is_incoming,
        archived,
        read
    from {{ source_or_empty('fub', 'text_messages') }}

),

renamed as (

    select
        cast(user_id as bigint) as user_id,
        cast(_dlt_load_id as text) as _dlt_load_id,
        cast(id as bigint) as text_message_id,
        cast(created as timestamptz) as created_at,
        cast(updated as timestamptz) as updated_at,
        cast(person_id as bigint) as person_id,
        cast(fub_user_id as bigint) as fub_user_id,
        cast(user_name as text) as user_name,
        cast(status as text) as message_status,
        cast(message as text) as message,
        cast(from_number as text) as from_number,
        cast(to_number as text) as to_number,
        cast(sent as timestamptz) as sent_at,
        cast(is_incoming as boolean) as is_incoming,
        cast(archived as boolean) as is_archived,
        cast(read as boolean) as is_read
    from source

)

select * from renamed
