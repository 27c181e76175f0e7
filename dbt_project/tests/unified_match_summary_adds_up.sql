-- the summary's counts add up to the deals and to the source records
select s.user_id, s.deal_kind
from {{ ref('deal_match_summary') }} as s
where s.deals <> s.matched + s.rezen_only + s.skyslope_only
   or s.matched + s.rezen_only <> (
        select count(*) from {{ ref('int_deals__keyed_records') }} as r
         where r.user_id = s.user_id and r.record_kind = s.deal_kind and r.source = 'rezen')
   or s.matched + s.skyslope_only <> (
        select count(*) from {{ ref('int_deals__keyed_records') }} as r
         where r.user_id = s.user_id and r.record_kind = s.deal_kind and r.source = 'skyslope')
