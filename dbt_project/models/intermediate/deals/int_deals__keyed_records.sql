{{ config(materialized='view') }}
-- every source record with its cross-source deal_key: a matched pair shares the key of the reZEN
-- record; an unmatched record keys on itself
with records as (
    select * from {{ ref('int_deals__source_records') }}
), matches as (
    select * from {{ ref('int_deals__matches') }}
)
select
    md5(concat_ws(':', records.user_id, records.record_kind,
        case
            when records.source = 'rezen' then 'rezen:' || records.record_id
            when matches.rezen_record_id is not null then 'rezen:' || matches.rezen_record_id
            else 'skyslope:' || records.record_id
        end)) as deal_key,
    case
        when records.source = 'rezen' and rezen_side.rezen_record_id is not null then 'matched'
        when records.source = 'skyslope' and matches.rezen_record_id is not null then 'matched'
        when records.source = 'rezen' then 'rezen_only'
        else 'skyslope_only'
    end as match_status,
    records.*
from records
left join matches
    on records.source = 'skyslope'
   and matches.user_id = records.user_id
   and matches.record_kind = records.record_kind
   and matches.skyslope_record_id = records.record_id
left join matches as rezen_side
    on records.source = 'rezen'
   and rezen_side.user_id = records.user_id
   and rezen_side.record_kind = records.record_kind
   and rezen_side.rezen_record_id = records.record_id
