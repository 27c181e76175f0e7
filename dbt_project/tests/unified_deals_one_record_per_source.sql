-- a real-world deal has at most one record per source (the matching is one-to-one)
select deal_key, source, count(*) as records
from {{ ref('int_deals__keyed_records') }}
group by deal_key, source
having count(*) > 1
