-- Surfaces (as a warning, never an error) participants that name a reZEN agent who is not a known
-- agent of the account: they are kept in transaction_participants, and listed here with counts.
{{ config(severity='warn') }}
select user_id, agent_id, participant_roles, transaction_count, participant_rows
  from {{ ref('unresolved_agent_references') }}
