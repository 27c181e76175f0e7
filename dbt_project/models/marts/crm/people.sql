{{ config(
    materialized='incremental',
    unique_key=['user_id', 'person_id'],
    on_schema_change='append_new_columns',
    post_hook=[
        "{{ mark_loads_processed('raw_fub') }}",
        "{{ flag_deleted_fub_rows('people', 'person_id') }}",
    ],
) }}
-- One row per agent and FUB person: the newest version of each in the loads this mart has not
-- merged yet (unprocessed_loads, processed_loads.sql), merged on (user_id, person_id) when it is
-- at least as new as the row held (by FUB's update time). Trash is a flag (is_trashed), deletions
-- too (is_deleted, deleted_at: flag_deleted_fub_rows, after each merge).

with

new_versions as (

    select * from {{ ref('stg_fub__people') }}
    where _dlt_load_id in ({{ unprocessed_loads('raw_fub') }})

),

latest as (

    -- the newest version per agent and id: newest FUB update first, then the newest load
    select distinct on (user_id, person_id) *
    from new_versions
    order by user_id, person_id, updated_at desc nulls last, cast(_dlt_load_id as numeric) desc

),

newer_than_held as (

    select latest.*
    from latest
    {% if is_incremental() %}
    left join {{ this }} as existing
        on existing.user_id = latest.user_id
       and existing.person_id = latest.person_id
    where existing.person_id is null
       or latest.updated_at >= existing.updated_at
       or existing.updated_at is null
    {% endif %}

),

final as (

    select
        user_id,
        person_id,
        created_at,
        updated_at,
        last_activity_at,
        full_name,
        first_name,
        last_name,
        stage_id,
        stage_name,
        stage_name = 'Trash' as is_trashed,
        person_type,
        lead_source,
        lead_source_id,
        lead_source_url,
        created_via,
        is_contacted,
        price,
        assigned_user_id,
        assigned_to,
        assigned_lender_id,
        assigned_pond_id,
        is_claimed,
        website_visits,
        (
            select e ->> 'value'
              from jsonb_array_elements(coalesce(emails, '[]')) as e
             order by (e ->> 'isPrimary') = '1' desc
             limit 1
        ) as primary_email,
        (
            select coalesce(p ->> 'normalized', p ->> 'value')
              from jsonb_array_elements(coalesce(phones, '[]')) as p
             order by (p ->> 'isPrimary') = '1' desc
             limit 1
        ) as primary_phone,
        array(
            select jsonb_array_elements_text(coalesce(tags, '[]'))
        ) as tags,
        coalesce(emails, '[]') as emails,
        coalesce(phones, '[]') as phones,
        coalesce(addresses, '[]') as addresses,
        coalesce(collaborators, '[]') as collaborators,
        custom_fields,
        false as is_deleted,
        cast(null as timestamptz) as deleted_at,
        _dlt_load_id as load_id
    from newer_than_held

)

select * from final
