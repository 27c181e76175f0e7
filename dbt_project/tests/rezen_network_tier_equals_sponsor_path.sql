-- Every down-line agent's tier equals the length of its sponsor path (the path from the platform
-- agent down to the direct sponsor, built from the sponsor edges). Rows returned = failures.
select user_id, agent_id, tier, sponsor_path_length
  from {{ ref('network') }}
 where sponsor_path_length is null
    or tier <> sponsor_path_length
