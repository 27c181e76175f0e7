"""ops.api_pacing: each vendor account's recent request slots, shared by every process.

A vendor counts one account's requests together, whoever sends them; agents sync concurrently,
in several threads, processes and (with more workers) machines. Each row holds, in the
database's clock, when the account's recent requests were answered and the slots of those still
in flight, so every process that takes a slot (:mod:`agentsync.pacing`) draws from one budget.
``ops.api_slot(account, cap, window)`` books the earliest time at which fewer than ``cap`` of the
account's requests can count in the ``window`` seconds before it (a sliding window, as FUB
counts) and answers how many seconds from now that is. The vendor sees a request at some moment
between its slot and its answer, so a request in flight holds a place, and an answered one
counts until ``window`` after its answer (``ops.api_slot_done``); ``held_until`` is a pause
every process honours (a 429's ``Retry-After``). The key is a non-secret account fingerprint, e.g.
``fub:account:<id>:global``.

Revision ID: 0011_api_pacing
Revises: 0010_quality_changes
"""

from alembic import op

revision = "0011_api_pacing"
down_revision = "0010_quality_changes"
branch_labels = None
depends_on = None

IN_FLIGHT_EXPIRY_S = 300  # longer than any request's timeout and retries within one slot


def upgrade() -> None:
    op.execute(
        """
        create table if not exists ops.api_pacing (
            account    text primary key,
            done_at    double precision[] not null default '{}',
            in_flight  double precision[] not null default '{}',
            held_until double precision not null default 0,
            updated_at timestamptz not null default now()
        )
        """
    )
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
                wait := slot - v_now;
            end if;
            update ops.api_pacing
               set done_at = v_done, in_flight = v_flight, updated_at = now()
             where account = p_account;
        end
        $$
        """
    )
    op.execute(
        """
        create or replace function ops.api_slot_done(p_account text, p_slot double precision)
        returns void language plpgsql as $$
        declare
            v_flight double precision[];
            v_i      integer;
        begin
            select in_flight into v_flight from ops.api_pacing
             where account = p_account for update;
            v_i := array_position(v_flight, p_slot);
            if v_i is not null then
                v_flight := v_flight[1 : v_i - 1] || v_flight[v_i + 1 : cardinality(v_flight)];
            end if;
            -- the vendor saw the request at some moment before its answer came back: it
            -- counts from now (only that bound keeps the window safe)
            update ops.api_pacing
               set in_flight = v_flight,
                   done_at = done_at || extract(epoch from clock_timestamp())::double precision
             where account = p_account;
        end
        $$
        """
    )


def downgrade() -> None:
    op.execute("drop function if exists ops.api_slot_done(text, double precision)")
    op.execute("drop function if exists ops.api_slot(text, integer, double precision)")
    op.execute("drop table if exists ops.api_pacing")
