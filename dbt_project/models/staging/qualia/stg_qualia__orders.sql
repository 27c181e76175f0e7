-- Every loaded version of a Qualia title order: one row per raw row (raw_qualia.orders), the fields
-- read out of the order as served. The newest version per order is kept by
-- marts/transactions/title_orders.sql.

with

source as (

    select
        user_id,
        order_id,
        "order",
        _dlt_load_id
    from {{ source_or_empty('qualia', 'orders') }}

),

typed as (

    select
        cast(user_id as bigint) as user_id,
        cast(order_id as text) as order_id,
        "order"->>'order_number' as order_number,
        lower("order"->>'status') as status,
        cast(nullif("order"->>'open_date', '') as timestamptz) as opened_at,
        cast(nullif("order"->>'close_date', '') as timestamptz) as closed_at,
        cast("order"->>'purchase_price' as numeric) as purchase_price,
        cast("order"->>'loan_amount' as numeric) as loan_amount,
        "order"->>'loan_type' as loan_type,
        cast("order"->>'cash_only' as boolean) as cash_only,
        "order"->>'external_reference_number' as external_reference_number,
        "order"->>'settlement_agency_name' as settlement_agency_name,
        "order"->'properties'->0->>'address_line_1' as address_line_1,
        "order"->'properties'->0->>'address_line_2' as address_line_2,
        "order"->'properties'->0->>'city' as city,
        "order"->'properties'->0->>'state' as state,
        "order"->'properties'->0->>'zipcode' as zipcode,
        "order"->'progress'->>'current_stage' as current_stage,
        "order"->'progress'->>'current_stage_key' as current_stage_key,
        "order"->'properties' as properties,
        "order"->'parties' as parties,
        cast(_dlt_load_id as text) as _dlt_load_id
    from source

)

select * from typed
