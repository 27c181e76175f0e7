{#
  An index on a merged mart's unique key (a post-hook of every mart, dbt_project.yml).

  An incremental mart with a ``unique_key`` is merged on it (dbt deletes the held rows of the
  keys it brings, then inserts them), and FUB's marts then join their deletion evidence to it on
  the same key (fub_deletions.sql). Without an index both are joins against the whole mart, and
  when the planner picks a nested loop for them (it did in a seed-scale daily build, on a mart of
  1.7M people: 154 s for an update of 0 rows, 77 s per statement when forced here) each row of
  evidence scans the mart; with the index the same plan takes milliseconds. dbt creates a
  model's ``indexes`` only when it creates the table, so a mart built before this index existed
  gets it here, once: ``if not exists`` is a catalog lookup afterwards. A mart without a
  ``unique_key`` gets nothing.
#}
{% macro index_merge_key() %}
    {%- set key = config.get('unique_key') -%}
    {%- if key and config.get('materialized') == 'incremental' -%}
        {%- set columns = [key] if key is string else key -%}
        create index if not exists "{{ this.identifier }}__merge_key"
            on {{ this }} ({{ columns | join(', ') }})
    {%- else -%}
        select 1
    {%- endif -%}
{% endmacro %}
