-- Every FUB text message belongs to a person of the same agent (texts are listed per person).
select t.user_id, t.text_message_id, t.person_id
  from {{ ref('text_messages') }} as t
  left join {{ ref('people') }} as p
    on p.user_id = t.user_id
   and p.person_id = t.person_id
 where p.person_id is null
