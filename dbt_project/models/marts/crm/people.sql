{{ config(
    materialized='incremental',
    unique_key=['user_id', 'person_id'],
    on_schema_change='append_new_columns',
    post_hook=[
        "{{ mark_loads_processed('raw_fub') }}",
        "{{ fub_flag_deletions('people', 'person_id') }}",
    ],
) }}
{{ fub_latest_versions('base_fub__people', 'person_id', 'updated_at') }}
select
    latest.user_id,
    latest.person_id,
    latest.created_at,
    latest.updated_at,
    latest.last_activity_at,
    latest.full_name,
    latest.first_name,
    latest.last_name,
    latest.stage_id,
    latest.stage_name,
    latest.stage_name = 'Trash' as is_trashed,
    latest.person_type,
    latest.lead_source,
    latest.lead_source_id,
    latest.lead_source_url,
    latest.created_via,
    latest.is_contacted,
    latest.price,
    latest.assigned_user_id,
    latest.assigned_to,
    latest.assigned_lender_id,
    latest.assigned_pond_id,
    latest.is_claimed,
    latest.website_visits,
    (
        select e ->> 'value'
          from jsonb_array_elements(coalesce(latest.emails, '[]')) as e
         order by (e ->> 'isPrimary') = '1' desc
         limit 1
    ) as primary_email,
    (
        select coalesce(p ->> 'normalized', p ->> 'value')
          from jsonb_array_elements(coalesce(latest.phones, '[]')) as p
         order by (p ->> 'isPrimary') = '1' desc
         limit 1
    ) as primary_phone,
    array(
        select jsonb_array_elements_text(coalesce(latest.tags, '[]'))
    ) as tags,
    coalesce(latest.emails, '[]') as emails,
    coalesce(latest.phones, '[]') as phones,
    coalesce(latest.addresses, '[]') as addresses,
    coalesce(latest.collaborators, '[]') as collaborators,
    latest.custom_fields,
    false as is_deleted,
    cast(null as timestamptz) as deleted_at,
    latest._dlt_load_id as load_id
from latest
{% if is_incremental() %}
left join {{ this }} as existing
    on existing.user_id = latest.user_id
   and existing.person_id = latest.person_id
where existing.person_id is null
   or latest.updated_at >= existing.updated_at
   or existing.updated_at is null
{% endif %}
