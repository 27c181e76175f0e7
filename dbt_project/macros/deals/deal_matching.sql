{#
  Address normalisation for matching the same real-world deal across reZEN and SkySlope.
  Both systems describe the property differently (SkySlope: "Oak Street", upper-cased cities,
  control characters; reZEN: "Oak St", unit sometimes inside the street line). The key is:
  lower case, control characters and punctuation removed, a trailing unit designator split off,
  street suffixes and directions abbreviated the USPS way, spaces collapsed.
#}


{% macro deal_street_key(street) -%}
    {%- set words = [
        ('street', 'st'), ('avenue', 'ave'), ('drive', 'dr'), ('court', 'ct'), ('road', 'rd'),
        ('lane', 'ln'), ('boulevard', 'blvd'), ('place', 'pl'), ('circle', 'cir'),
        ('terrace', 'ter'), ('highway', 'hwy'), ('parkway', 'pkwy'), ('north', 'n'),
        ('south', 's'), ('east', 'e'), ('west', 'w'),
    ] -%}
    {%- set ns = namespace(sql="regexp_replace(regexp_replace(regexp_replace(lower(coalesce(" ~ street ~ ", '')), '[[:cntrl:]]', '', 'g'), '\\s*(\\m(unit|apt|apartment|suite|ste)\\M|#)\\s*[a-z0-9-]+\\s*$', ''), '[^a-z0-9 ]', ' ', 'g')") -%}
    {%- for long, short in words -%}
        {%- set ns.sql = "regexp_replace(" ~ ns.sql ~ ", '\\m" ~ long ~ "\\M', '" ~ short ~ "', 'g')" -%}
    {%- endfor -%}
    nullif(btrim(regexp_replace({{ ns.sql }}, '\s+', ' ', 'g')), '')
{%- endmacro %}


{% macro deal_unit_key(street, unit) -%}
    coalesce(
        nullif(regexp_replace(regexp_replace(lower(coalesce({{ unit }}, '')), '[[:cntrl:]]|\m(unit|apt|apartment|suite|ste)\M|[^a-z0-9]', '', 'g'), '^0+', ''), ''),
        nullif(regexp_replace(lower(substring(lower(coalesce({{ street }}, '')) from '(?:\m(?:unit|apt|apartment|suite|ste)\M|#)\s*([a-z0-9-]+)\s*$')), '[^a-z0-9]|^0+', '', 'g'), ''),
        ''
    )
{%- endmacro %}


{% macro deal_zip_key(zip) -%}
    left(regexp_replace(coalesce({{ zip }}, ''), '[^0-9]', '', 'g'), 5)
{%- endmacro %}
