-- A FUB mart row flagged deleted says when; a live row has no deletion time.
{% for mart in ['people', 'deals', 'events', 'calls', 'appointments', 'text_messages'] %}
select '{{ mart }}' as mart, user_id, is_deleted, deleted_at
  from {{ ref(mart) }}
 where is_deleted <> (deleted_at is not null)
{% if not loop.last %}union all{% endif %}
{% endfor %}
