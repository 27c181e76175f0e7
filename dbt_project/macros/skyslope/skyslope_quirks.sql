{#
  SkySlope data quirks, cleaned in staging SQL (raw keeps the vendor's text untouched).
  docs/vendors/skyslope.md §4 [LIVE-OBSERVED]:
  - datetimes without a timezone ("2020-10-13T18:38:42.997"): read in the timezone given by the
    dbt var skyslope_naive_timezone, else env AGENTSYNC_SKYSLOPE_NAIVE_TIMEZONE, else
    America/Los_Angeles (agentsync.settings.Settings.skyslope_naive_timezone documents it);
    values that do carry an offset or Z are read as such;
  - "0001-01-01T00:00:00" means null;
  - control characters inside text are removed.
  Calendar dates (closing, contract, listing dates) are taken as the date written, no shift.
#}

{% macro skyslope_naive_timezone() -%}
    {{- var('skyslope_naive_timezone', env_var('AGENTSYNC_SKYSLOPE_NAIVE_TIMEZONE', 'America/Los_Angeles')) | replace("'", "''") -}}
{%- endmacro %}


{% macro skyslope_text(expr) -%}
    nullif(btrim(regexp_replace({{ expr }}, '[[:cntrl:]]', '', 'g')), '')
{%- endmacro %}


{% macro skyslope_is_null_date(expr) -%}
    ({{ expr }} is null or btrim({{ expr }}) = '' or {{ expr }} like '0001-01-01%')
{%- endmacro %}


{% macro skyslope_timestamp(expr) -%}
    (case
        when {{ skyslope_is_null_date(expr) }} then null
        when {{ expr }} ~ 'T[0-9:.]+(Z|[+-][0-9]{2}(:?[0-9]{2})?)$' then cast({{ expr }} as timestamptz)
        else cast({{ expr }} as timestamp) at time zone '{{ skyslope_naive_timezone() }}'
    end)
{%- endmacro %}


{% macro skyslope_date(expr) -%}
    (case when {{ skyslope_is_null_date(expr) }} then null else cast(left({{ expr }}, 10) as date) end)
{%- endmacro %}


{% macro skyslope_number(expr) -%}
    cast(nullif(btrim({{ expr }}), '') as numeric)
{%- endmacro %}
