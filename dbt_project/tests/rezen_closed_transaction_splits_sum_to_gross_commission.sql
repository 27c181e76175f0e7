-- Where the source says the splits are final (closed transactions, whose REAL split is set), the
-- participants' payment amounts sum exactly to the transaction's gross commission.
with splits as (
    select user_id, transaction_id, sum(payment_amount) as split_total
      from {{ ref('transaction_participants') }}
     where payment_amount is not null
     group by user_id, transaction_id
)
select t.user_id, t.transaction_id, t.gross_commission_amount, s.split_total
  from {{ ref('rezen_transactions') }} as t
  join splits as s using (user_id, transaction_id)
 where t.lifecycle = 'closed'
   and s.split_total <> t.gross_commission_amount
