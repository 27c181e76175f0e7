-- Every person's stage is one of the agent's FUB person stages (when stages were loaded).
select p.user_id, p.person_id, p.stage_id
  from {{ ref('people') }} as p
 where p.stage_id is not null
   and exists (select 1 from {{ ref('stages') }} as s where s.user_id = p.user_id)
   and not exists (
        select 1
          from {{ ref('stages') }} as s
         where s.user_id = p.user_id
           and s.stage_id = p.stage_id
   )
