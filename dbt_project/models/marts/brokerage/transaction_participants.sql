{{ config(materialized='incremental', unique_key=['user_id', 'participant_id'],
          post_hook=["{{ mark_loads_processed('raw_rezen') }}"]) }}
-- Participants of reZEN transactions with their commission splits: one row per user_id and
-- participant. Participants naming an unknown agent are kept (see unresolved_agent_references).
-- The newest version of each in the loads this mart has not merged yet (unprocessed_loads,
-- processed_loads.sql), merged on (user_id, participant_id) when it is at least as new as the row
-- held (by transaction_updated_at).

with

new_versions as (

    select * from {{ ref('stg_rezen__transaction_participants') }}
    where _dlt_load_id in ({{ unprocessed_loads('raw_rezen') }})

),

latest as (

    -- the newest version per key: the newest transaction_updated_at first, then the newest load
    select distinct on (user_id, participant_id) *
    from new_versions
    order by user_id, participant_id, transaction_updated_at desc nulls last, cast(_dlt_load_id as numeric) desc

),

newer_than_held as (

    select latest.*
    from latest
    {% if is_incremental() %}
    left join {{ this }} as existing using (user_id, participant_id)
    where existing.participant_id is null
       or existing.transaction_updated_at is null
       or latest.transaction_updated_at >= existing.transaction_updated_at
    {% endif %}

),

final as (

    select
        user_id,
        participant_id,
        transaction_id,
        agent_id,
        participant_role,
        is_external,
        first_name,
        last_name,
        payment_percent,
        payment_amount,
        payment_currency,
        is_paid,
        transaction_updated_at,
        loaded_at
    from newer_than_held

)

select * from final
