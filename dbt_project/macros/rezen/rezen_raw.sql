{#
  Select typed columns from a raw_rezen table that may not exist yet (source never loaded) and
  whose columns may not all exist yet (dlt adds a column when a record first carries it).
  columns: {raw column name: sql type}. Missing table → an empty result with the same columns.
#}
{% macro rezen_raw(table, columns) %}
    {%- set src = source('rezen', table) -%}
    {%- set exists = relation_exists('raw_rezen', table) -%}
    {%- set present = [] -%}
    {%- if exists and execute -%}
        {%- set rel = raw_relation('raw_rezen', table) -%}
        {%- for c in adapter.get_columns_in_relation(rel) -%}{%- do present.append(c.name) -%}{%- endfor -%}
    {%- endif -%}
    select
    {%- for name, type in columns.items() %}
        {% if name in present or not execute %}cast({{ adapter.quote(name) }} as {{ type }}){% else %}cast(null as {{ type }}){% endif %} as {{ adapter.quote(name) }},
    {%- endfor %}
        {% if '_dlt_load_id' in present or not execute %}cast(_dlt_load_id as text){% else %}cast(null as text){% endif %} as _dlt_load_id
    {% if exists %}from {{ src }}{% else %}where false{% endif %}
{% endmacro %}


{#- A reZEN timestamp in any of its encodings (docs/vendors/rezen.md §4): ISO text, epoch s or
    epoch ms. -#}
{% macro rezen_timestamp(expr) -%}
    (case
        when ({{ expr }})::text ~ '^\d{4}-\d{2}-\d{2}' then ({{ expr }})::text::timestamptz
        when ({{ expr }})::text ~ '^\d{12,}$' then to_timestamp(({{ expr }})::text::numeric / 1000)
        when ({{ expr }})::text ~ '^\d{1,11}$' then to_timestamp(({{ expr }})::text::numeric)
    end)
{%- endmacro %}


{#- A reZEN date (ISO date, ISO datetime or epoch s/ms) as a date in UTC. -#}
{% macro rezen_date(expr) -%}
    (case
        when ({{ expr }})::text ~ '^\d{4}-\d{2}-\d{2}$' then ({{ expr }})::text::date
        else ({{ rezen_timestamp(expr) }} at time zone 'UTC')::date
    end)
{%- endmacro %}


{#- When dlt committed a load (load ids are epoch seconds). -#}
{% macro rezen_loaded_at(load_id) -%}
    to_timestamp(({{ load_id }})::numeric)
{%- endmacro %}


{#- reZEN writes states/provinces as upper-snake names (docs/vendors/rezen.md §4); the marts use
    codes. -#}
{% macro rezen_state_code(expr) -%}
    {%- set codes = {
        'ALABAMA': 'AL', 'ALASKA': 'AK', 'ARIZONA': 'AZ', 'ARKANSAS': 'AR', 'CALIFORNIA': 'CA',
        'COLORADO': 'CO', 'CONNECTICUT': 'CT', 'DELAWARE': 'DE', 'DISTRICT_OF_COLUMBIA': 'DC',
        'FLORIDA': 'FL', 'GEORGIA': 'GA', 'HAWAII': 'HI', 'IDAHO': 'ID', 'ILLINOIS': 'IL',
        'INDIANA': 'IN', 'IOWA': 'IA', 'KANSAS': 'KS', 'KENTUCKY': 'KY', 'LOUISIANA': 'LA',
        'MAINE': 'ME', 'MARYLAND': 'MD', 'MASSACHUSETTS': 'MA', 'MICHIGAN': 'MI',
        'MINNESOTA': 'MN', 'MISSISSIPPI': 'MS', 'MISSOURI': 'MO', 'MONTANA': 'MT',
        'NEBRASKA': 'NE', 'NEVADA': 'NV', 'NEW_HAMPSHIRE': 'NH', 'NEW_JERSEY': 'NJ',
        'NEW_MEXICO': 'NM', 'NEW_YORK': 'NY', 'NORTH_CAROLINA': 'NC', 'NORTH_DAKOTA': 'ND',
        'OHIO': 'OH', 'OKLAHOMA': 'OK', 'OREGON': 'OR', 'PENNSYLVANIA': 'PA',
        'RHODE_ISLAND': 'RI', 'SOUTH_CAROLINA': 'SC', 'SOUTH_DAKOTA': 'SD', 'TENNESSEE': 'TN',
        'TEXAS': 'TX', 'UTAH': 'UT', 'VERMONT': 'VT', 'VIRGINIA': 'VA', 'WASHINGTON': 'WA',
        'WEST_VIRGINIA': 'WV', 'WISCONSIN': 'WI', 'WYOMING': 'WY', 'ALBERTA': 'AB',
        'BRITISH_COLUMBIA': 'BC', 'MANITOBA': 'MB', 'NEW_BRUNSWICK': 'NB',
        'NEWFOUNDLAND_AND_LABRADOR': 'NL', 'NOVA_SCOTIA': 'NS', 'ONTARIO': 'ON',
        'PRINCE_EDWARD_ISLAND': 'PE', 'QUEBEC': 'QC', 'SASKATCHEWAN': 'SK'
    } -%}
    (case upper(replace(trim({{ expr }}), ' ', '_'))
    {%- for name, code in codes.items() %}
        when '{{ name }}' then '{{ code }}'
    {%- endfor %}
        else upper(trim({{ expr }}))
    end)
{%- endmacro %}


{#- Latest version per key among a base model's rows (for stg views). -#}
{% macro rezen_latest(relation, keys, order_by) -%}
    select distinct on ({{ keys | join(', ') }}) *
      from {{ relation }}
     order by {{ keys | join(', ') }}, {{ order_by }}
{%- endmacro %}


{#- Generic test: the columns together identify a row. -#}
{% test rezen_unique_key(model, columns) %}
    select {{ columns | join(', ') }}, count(*) as n
      from {{ model }}
     group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}


{#
  The incremental mart pattern of docs/contributing.md for one base model: take the versions in
  loads this mart has not processed, keep the newest per key (by version_col, then load), and
  merge rows that are new or at least as new as what the mart holds.
#}
{% macro rezen_incremental(base, keys, columns, version_col='loaded_at') %}
with new_versions as (
    select * from {{ ref(base) }}
     where _dlt_load_id in ({{ unprocessed_loads('raw_rezen') }})
), latest as (
    select distinct on ({{ keys | join(', ') }}) *
      from new_versions
     order by {{ keys | join(', ') }}, {{ version_col }} desc nulls last, _dlt_load_id desc
)
select
{%- for c in keys + columns %}
    latest.{{ c }}{{ ',' if not loop.last }}
{%- endfor %}
  from latest
{% if is_incremental() %}
  left join {{ this }} as existing using ({{ keys | join(', ') }})
 where existing.{{ keys[-1] }} is null
    or latest.{{ version_col }} >= existing.{{ version_col }}
    or existing.{{ version_col }} is null
{% endif %}
{% endmacro %}


{#- The rows of each owner's newest load of a snapshot-like entity (a full list every run);
    where: a predicate on the base model's rows (e.g. the affected agents of a recomputed mart). -#}
{% macro rezen_latest_snapshot(base, owner_keys, where='true') %}
with versions as (
    select * from {{ ref(base) }} where {{ where }}
), newest_load as (
    select {{ owner_keys | join(', ') }}, max(_dlt_load_id::numeric) as load_number
      from versions
     group by {{ owner_keys | join(', ') }}
)
select versions.*
  from versions
  join newest_load using ({{ owner_keys | join(', ') }})
 where versions._dlt_load_id::numeric = newest_load.load_number
{% endmacro %}
