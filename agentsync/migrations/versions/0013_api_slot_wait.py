"""ops.api_slot's wait counts from the end of the call, not from its start.

The wait the function returned was ``slot - v_now``, with ``v_now`` read when the call began,
before it queued for the account's row. A caller that then waited the whole of it was late by
the queueing (many threads pacing one account); a caller that subtracted the statement's round
trip instead (3edd487) could send a request a few milliseconds *before* its slot, and then a
window of the vendor's clock could hold one request more than the pace allows (seen in
``tests/foundation/test_http_rate_limit.py`` on a loaded machine: 3 in a 1 s window paced for
2). Measured from the function's end, the wait is never early: what is left between that moment
and the caller's sleep is the answer's way back, which only delays.

Revision ID: 0013_api_slot_wait
Revises: 0012_drift_results
"""

from alembic import op

revision = "0013_api_slot_wait"
down_revision = "0012_drift_results"
branch_labels = None
depends_on = None

IN_FLIGHT_EXPIRY_S = 300  # as in 0011_api_pacing


def upgrade() -> None:
    op.execute(
        f"""
        create or replace function ops.api_slot(
            p_account text, p_cap integer, p_window double precision,
            out wait double precision, out slot double precision
        ) language plpgsql as $$
        declare
            v_now    double precision := extract(epoch from clock_timestamp());
            v_done   double precision[];
            v_flight double precision[];
            v_held   double precision;
            v_n      integer;
            v_free   integer;
        begin
            insert into ops.api_pacing (account) values (p_account)
                on conflict (account) do nothing;
            select p.done_at, p.in_flight, p.held_until into v_done, v_flight, v_held
              from ops.api_pacing p where p.account = p_account for update;
            -- answered requests still in the window (oldest first), and requests in flight
            -- (a process that died mid-request gives its slot back after {IN_FLIGHT_EXPIRY_S} s)
            select coalesce(array_agg(s order by s), '{{}}') into v_done
              from (select s from unnest(v_done) as s where s > v_now - p_window
                     order by s desc limit p_cap) as k;
            select coalesce(array_agg(s), '{{}}') into v_flight
              from unnest(v_flight) as s where s > v_now - {IN_FLIGHT_EXPIRY_S};
            v_free := p_cap - cardinality(v_flight);
            if v_free <= 0 then
                -- every place in the window is held by a request in flight: ask again soon
                slot := null;
                wait := least(1.0, p_window / p_cap);
            else
                -- a request in flight may reach the vendor at any moment until its answer, so
                -- it holds a place; at most v_free - 1 answered ones may still count at the slot
                slot := greatest(v_now, v_held);
                v_n := cardinality(v_done);
                if v_n >= v_free then
                    slot := greatest(slot, v_done[v_n - v_free + 1] + p_window);
                end if;
                v_flight := v_flight || slot;
                -- from the function's end, not its start: the caller waits this long after the
                -- answer reaches it, so its request cannot reach the vendor before its slot
                wait := greatest(0, slot - extract(epoch from clock_timestamp()));
            end if;
            update ops.api_pacing
               set done_at = v_done, in_flight = v_flight, updated_at = now()
             where account = p_account;
        end
        $$
        """
    )


def downgrade() -> None:
    pass  # 0011's definition differs only in when the wait is measured from; keep this one
