-- nothing lost on the way to the unified marts: one row per source-mart row
with expected as (
    select 'transaction' as kind, (select count(*) from {{ ref('rezen_transactions') }})
         + (select count(*) from {{ ref('skyslope_sales') }}) as n
    union all
    select 'listing', (select count(*) from {{ ref('rezen_listings') }})
         + (select count(*) from {{ ref('skyslope_listings') }})
), actual as (
    select 'transaction' as kind, (select count(*) from {{ ref('transactions') }}) as n
    union all
    select 'listing', (select count(*) from {{ ref('listings') }})
)
select expected.kind, expected.n as expected_rows, actual.n as actual_rows
from expected
join actual using (kind)
where expected.n <> actual.n
