{{ config(materialized='incremental', unique_key=['user_id', 'snapshot_date']) }}
-- The legacy "create snapshot" metrics, one row per agent per day on which what they count
-- changed: the day of the agent's newest load among its agent record, down-line, transactions
-- and listings (a list read whole lands only when it changed, so a quiet day adds no row and
-- the previous row still holds). A rebuild on the same day replaces that day's row.
with newest_loads as (
    select user_id, max(loaded_at) as loaded_at from {{ ref('agents') }} group by user_id
    union all
    select user_id, max(loaded_at) from {{ ref('network') }} group by user_id
    union all
    select user_id, max(loaded_at) from {{ ref('rezen_transactions') }} group by user_id
    union all
    select user_id, max(loaded_at) from {{ ref('rezen_listings') }} group by user_id
), days as (
    select user_id, max(loaded_at)::date as snapshot_date
      from newest_loads
     where user_id in (select user_id from {{ ref('agents') }})
     group by user_id
), network_counts as (
    select user_id,
           count(*) as network_size,
           count(*) filter (where agent_status = 'ACTIVE') as active_network_size,
           count(*) filter (where tier = 1) as front_line_size
      from {{ ref('network') }}
     group by user_id
), transaction_counts as (
    select user_id,
           count(*) filter (where lifecycle = 'open') as open_transactions,
           count(*) filter (where lifecycle = 'closed') as closed_transactions,
           count(*) filter (where lifecycle = 'terminated') as terminated_transactions,
           coalesce(sum(price_amount) filter (where lifecycle = 'closed'), 0) as closed_volume
      from {{ ref('rezen_transactions') }}
     group by user_id
), listing_counts as (
    select user_id,
           count(*) filter (where lifecycle = 'open') as open_listings,
           count(*) filter (where lifecycle = 'closed') as closed_listings,
           count(*) filter (where lifecycle = 'terminated') as terminated_listings
      from {{ ref('rezen_listings') }}
     group by user_id
)
select
    days.user_id,
    days.snapshot_date,
    coalesce(n.network_size, 0) as network_size,
    coalesce(n.active_network_size, 0) as active_network_size,
    coalesce(n.front_line_size, 0) as front_line_size,
    coalesce(t.open_transactions, 0) as open_transactions,
    coalesce(t.closed_transactions, 0) as closed_transactions,
    coalesce(t.terminated_transactions, 0) as terminated_transactions,
    coalesce(t.closed_volume, 0) as closed_volume,
    coalesce(l.open_listings, 0) as open_listings,
    coalesce(l.closed_listings, 0) as closed_listings,
    coalesce(l.terminated_listings, 0) as terminated_listings,
    now() as taken_at
from days
left join network_counts as n using (user_id)
left join transaction_counts as t using (user_id)
left join listing_counts as l using (user_id)
