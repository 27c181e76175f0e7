-- SkySlope quirks never reach staging: no control characters, no year-1 dates
select sale_guid as file_guid
from {{ ref('stg_skyslope__sales') }}
where concat(street_name, city, status, unit) ~ '[[:cntrl:]]'
   or extract(year from coalesce(actual_closing_date, escrow_closing_date, dead_date, created_at::date)) < 1900
union all
select listing_guid
from {{ ref('stg_skyslope__listings') }}
where concat(street_name, city, status, unit) ~ '[[:cntrl:]]'
   or extract(year from coalesce(listing_date, expiration_date, created_at::date)) < 1900
