{#
  An index on ``_dlt_load_id`` for every raw table (run at the start of every dbt invocation).

  Incremental marts read only the loads they have not processed (``_dlt_load_id in
  (unprocessed_loads(...))``, see processed_loads.sql). Without an index that filter scans the
  whole raw history on every run, so a daily build would cost more each day; with it, the cost
  follows the new loads. dlt creates the raw tables (and new ones when a source first loads an
  entity), so the indexes are ensured here, idempotently: a table that has one is left alone, and
  the check is one catalog query when nothing is missing.
#}
{% macro ensure_raw_load_indexes() %}
    do $idx$
    declare
        t record;
    begin
        for t in
            select c.table_schema, c.table_name
              from information_schema.columns as c
              join information_schema.tables as tb
                on tb.table_schema = c.table_schema
               and tb.table_name = c.table_name
               and tb.table_type = 'BASE TABLE'
             where c.table_schema in ({% for s in var('raw_schemas') %}'{{ s }}'{{ "," if not loop.last }}{% endfor %})
               and c.column_name = '_dlt_load_id'
               and not exists (
                    select 1
                      from pg_index as i
                      join pg_attribute as a
                        on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
                     where i.indrelid = format('%I.%I', c.table_schema, c.table_name)::regclass
                       and a.attname = '_dlt_load_id'
               )
        loop
            execute format(
                'create index if not exists %I on %I.%I (_dlt_load_id)',
                left(t.table_name, 45) || '__dlt_load_id_idx', t.table_schema, t.table_name
            );
        end loop;
    end $idx$;
{% endmacro %}
