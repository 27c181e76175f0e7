{%- set affected = per_agent_incremental(['raw_rezen', 'raw_skyslope']) %}
-- per agent and kind: how many real deals are in both systems, reZEN only, SkySlope only;
-- recomputed only for agents with reZEN/SkySlope loads this mart has not processed
select
    user_id,
    deal_kind,
    count(*) as deals,
    count(*) filter (where in_rezen and in_skyslope) as matched,
    count(*) filter (where in_rezen and not in_skyslope) as rezen_only,
    count(*) filter (where in_skyslope and not in_rezen) as skyslope_only
from {{ ref('real_estate_deals') }}
where {{ affected }}
group by user_id, deal_kind
