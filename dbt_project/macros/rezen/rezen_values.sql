{#
  reZEN values, cleaned one at a time in staging (docs/vendors/rezen.md §4): timestamps and dates
  in any of reZEN's encodings, the load time of a dlt load id, state names as codes.
#}


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
