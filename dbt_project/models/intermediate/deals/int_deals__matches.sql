{%- set affected = per_agent_incremental(['raw_rezen', 'raw_skyslope']) %}
{#
  The matching rule (one reZEN record <-> at most one SkySlope record, per agent):
  same user_id, same kind (transaction / listing), same normalised street (number + name, USPS
  suffixes), same unit, same 5-digit ZIP, same side, and for transactions close dates within
  var('deal_match_close_days', 45) days of each other when both are known. Among several
  candidates the closest close date wins, then the smaller id (deterministic).
  Matching is per agent, so only agents with reZEN/SkySlope loads this model has not processed
  are rematched (their old pairs deleted by the pre-hook); the others' pairs stay.
#}
with rezen as (
    select * from {{ ref('int_deals__source_records') }} where source = 'rezen' and {{ affected }}
), skyslope as (
    select * from {{ ref('int_deals__source_records') }} where source = 'skyslope' and {{ affected }}
), candidates as (
    select
        rezen.user_id,
        rezen.record_kind,
        rezen.record_id as rezen_record_id,
        skyslope.record_id as skyslope_record_id,
        coalesce(abs(rezen.close_date - skyslope.close_date), 0) as close_gap_days
    from rezen
    join skyslope
        on skyslope.user_id = rezen.user_id
       and skyslope.record_kind = rezen.record_kind
       and skyslope.street_key = rezen.street_key
       and skyslope.unit_key = rezen.unit_key
       and skyslope.zip_key = rezen.zip_key
       and skyslope.side is not distinct from rezen.side
    where rezen.street_key is not null
      and rezen.zip_key <> ''
      and (
            rezen.record_kind = 'listing'
            or rezen.close_date is null
            or skyslope.close_date is null
            or abs(rezen.close_date - skyslope.close_date) <= {{ var('deal_match_close_days', 45) }}
      )
), ranked as (
    select
        candidates.*,
        row_number() over (
            partition by user_id, record_kind, rezen_record_id
            order by close_gap_days, skyslope_record_id
        ) as rank_for_rezen,
        row_number() over (
            partition by user_id, record_kind, skyslope_record_id
            order by close_gap_days, rezen_record_id
        ) as rank_for_skyslope
    from candidates
)
select user_id, record_kind, rezen_record_id, skyslope_record_id, close_gap_days
from ranked
where rank_for_rezen = 1 and rank_for_skyslope = 1
