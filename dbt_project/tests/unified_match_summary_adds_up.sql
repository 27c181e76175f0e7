-- the summary's counts add up to the deals and to the source records (the records counted in one
-- pass: a count per summary row re-read the keyed-records view twice per agent and kind, 110 s
-- after a seed-scale onboarding)
with records as (

    select
        user_id,
        record_kind,
        count(*) filter (where source = 'rezen') as rezen_records,
        count(*) filter (where source = 'skyslope') as skyslope_records
    from {{ ref('int_deals__keyed_records') }}
    group by user_id, record_kind

)

select s.user_id, s.deal_kind
from {{ ref('deal_match_summary') }} as s
left join records as r
    on r.user_id = s.user_id
   and r.record_kind = s.deal_kind
where s.deals <> s.matched + s.rezen_only + s.skyslope_only
   or s.matched + s.rezen_only <> coalesce(r.rezen_records, 0)
   or s.matched + s.skyslope_only <> coalesce(r.skyslope_records, 0)
