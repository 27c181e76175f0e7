{{ config(
    materialized='incremental',
    unique_key=['user_id', 'text_message_id'],
    on_schema_change='append_new_columns',
    post_hook=[
        "{{ mark_loads_processed('raw_fub') }}",
        "{{ fub_flag_deletions('text_messages', 'text_message_id') }}",
    ],
) }}
{{ fub_latest_versions('base_fub__text_messages', 'text_message_id', 'updated_at') }}
select
    latest.user_id,
    latest.text_message_id,
    latest.created_at,
    latest.updated_at,
    latest.person_id,
    latest.fub_user_id,
    latest.user_name,
    latest.message_status,
    latest.message,
    latest.from_number,
    latest.to_number,
    latest.sent_at,
    latest.is_incoming,
    latest.is_archived,
    latest.is_read,
    false as is_deleted,
    cast(null as timestamptz) as deleted_at,
    latest._dlt_load_id as load_id
from latest
{% if is_incremental() %}
left join {{ this }} as existing
    on existing.user_id = latest.user_id
   and existing.text_message_id = latest.text_message_id
where existing.text_message_id is null
   or latest.updated_at >= existing.updated_at
   or existing.updated_at is null
{% endif %}
