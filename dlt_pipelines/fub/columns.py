"""The columns of ``raw_fub``: what staging reads from each table, declared once (see
:mod:`dlt_pipelines.columns` for how the declaration is used).

FUB's fields land as dlt names them (``lastActivity`` → ``last_activity``); nested objects and
arrays stay JSON (``max_table_nesting=0``). Timestamps are ISO-8601 with a zone (``timestamp``:
``timestamp with time zone``), money fields exact decimals. The source renames FUB's ``userId``
to ``fubUserId`` (it would collide with our ``user_id``). FUB custom fields (``custom*``, names
differ per account) are not declared: they land as dlt infers them and staging folds every
``custom_*`` column into one JSON value.

Checks before a record lands (:mod:`dlt_pipelines.fub.validate`): the stream's id is an integer,
the cursor an ISO-8601 timestamp, and the fields with a ``kind`` here have that JSON type (money
is a number; a text message names its person). New fields are never a problem (drift).
"""

from __future__ import annotations

from dlt_pipelines.columns import Column, Table

#: the columns every FUB stream table has: our agent and FUB's id
_KEYS = (
    Column("user_id", "bigint", nullable=False),
    Column("id", "bigint", "id", required=True, nullable=False),
)
_STAMPS = (
    Column("created", "timestamp", "created"),
    Column("updated", "timestamp", "updated"),
)


def _money(name: str, field: str) -> Column:
    return Column(name, "decimal", field, kind="number")


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "people",
            (
                *_KEYS,
                *_STAMPS,
                Column("created_via", "text", "createdVia"),
                Column("last_activity", "timestamp", "lastActivity"),
                Column("name", "text", "name"),
                Column("first_name", "text", "firstName"),
                Column("last_name", "text", "lastName"),
                Column("stage", "text", "stage"),
                Column("stage_id", "bigint", "stageId"),
                Column("type", "text", "type"),
                Column("source", "text", "source"),
                Column("source_id", "bigint", "sourceId"),
                Column("source_url", "text", "sourceUrl"),
                Column("lead_flow_id", "bigint", "leadFlowId"),
                Column("contacted", "bigint", "contacted"),
                _money("price", "price"),
                _money("deal_price", "dealPrice"),
                Column("assigned_user_id", "bigint", "assignedUserId"),
                Column("assigned_to", "text", "assignedTo"),
                Column("assigned_lender_id", "bigint", "assignedLenderId"),
                Column("assigned_pond_id", "bigint", "assignedPondId"),
                Column("claimed", "bool", "claimed"),
                Column("website_visits", "bigint", "websiteVisits"),
                Column("tags", "json", "tags"),
                Column("emails", "json", "emails"),
                Column("phones", "json", "phones"),
                Column("addresses", "json", "addresses"),
                Column("collaborators", "json", "collaborators"),
            ),
        ),
        Table(
            "deals",
            (
                *_KEYS,
                Column("name", "text", "name"),
                Column("type", "bigint", "type"),
                Column("status", "text", "status"),
                _money("price", "price"),
                Column("created_at", "timestamp", "createdAt"),
                Column("projected_close_date", "text", "projectedCloseDate"),
                Column("pipeline_id", "bigint", "pipelineId"),
                Column("pipeline_name", "text", "pipelineName"),
                Column("stage_id", "bigint", "stageId"),
                Column("stage_name", "text", "stageName"),
                Column("entered_stage_at", "timestamp", "enteredStageAt"),
                _money("commission_value", "commissionValue"),
                _money("agent_commission", "agentCommission"),
                _money("team_commission", "teamCommission"),
                Column("time_to_close", "bigint", "timeToClose"),
                Column("people", "json", "people"),
                Column("users", "json", "users"),
            ),
        ),
        Table(
            "events",
            (
                *_KEYS,
                *_STAMPS,
                Column("occurred", "timestamp", "occurred"),
                Column("person_id", "bigint", "personId"),
                Column("type", "text", "type"),
                Column("source", "text", "source"),
                Column("message", "text", "message"),
                Column("description", "text", "description"),
                Column("page_url", "text", "pageUrl"),
                Column("page_duration", "bigint", "pageDuration"),
                Column("property", "json", "property"),
                Column("property_search", "json", "propertySearch"),
            ),
        ),
        Table(
            "calls",
            (
                *_KEYS,
                *_STAMPS,
                Column("person_id", "bigint", "personId"),
                Column("fub_user_id", "bigint", "userId"),
                Column("user_name", "text", "userName"),
                Column("phone", "text", "phone"),
                Column("from_number", "text", "fromNumber"),
                Column("to_number", "text", "toNumber"),
                Column("outcome", "text", "outcome"),
                Column("is_incoming", "bool", "isIncoming"),
                Column("duration", "bigint", "duration"),
                Column("note", "text", "note"),
            ),
        ),
        Table(
            "appointments",
            (
                *_KEYS,
                *_STAMPS,
                Column("title", "text", "title"),
                Column("description", "text", "description"),
                Column("start", "timestamp", "start"),
                Column("end", "timestamp", "end"),
                Column("timezone", "text", "timezone"),
                Column("all_day", "bool", "allDay"),
                Column("location", "text", "location"),
                Column("type", "text", "type"),
                Column("outcome", "text", "outcome"),
                Column("invitees", "json", "invitees"),
            ),
        ),
        Table(
            "text_messages",
            (
                *_KEYS,
                *_STAMPS,
                # texts are listed per person (fub.md §2.6): one without its person is unusable
                Column("person_id", "bigint", "personId", kind="integer", required=True),
                Column("fub_user_id", "bigint", "userId"),
                Column("user_name", "text", "userName"),
                Column("status", "text", "status"),
                Column("message", "text", "message"),
                Column("from_number", "text", "fromNumber"),
                Column("to_number", "text", "toNumber"),
                Column("sent", "timestamp", "sent"),
                Column("is_incoming", "bool", "isIncoming"),
                Column("archived", "bool", "archived"),
                Column("read", "bool", "read"),
            ),
        ),
        Table(
            "users",
            (
                *_KEYS,
                *_STAMPS,
                Column("name", "text", "name"),
                Column("first_name", "text", "firstName"),
                Column("last_name", "text", "lastName"),
                Column("email", "text", "email"),
                Column("phone", "text", "phone"),
                Column("role", "text", "role"),
                Column("status", "text", "status"),
                Column("timezone", "text", "timezone"),
                Column("is_owner", "bool", "isOwner"),
            ),
        ),
        Table(
            "stages",
            (
                *_KEYS,
                Column("name", "text", "name"),
                Column("order_weight", "bigint", "orderWeight"),
                Column("is_protected", "bool", "isProtected"),
                Column("description", "text", "description"),
                Column("people_count", "bigint", "peopleCount"),
            ),
        ),
        Table(
            "pipelines",
            (
                *_KEYS,
                Column("name", "text", "name"),
                Column("description", "text", "description"),
                Column("order_weight", "bigint", "orderWeight"),
                Column("stages", "json", "stages"),
            ),
        ),
        Table(
            "groups",
            (
                *_KEYS,
                Column("name", "text", "name"),
                Column("type", "text", "type"),
                Column("distribution", "text", "distribution"),
                Column("default_user_id", "bigint", "defaultUserId"),
                Column("claim_window", "bigint", "claimWindow"),
                Column("is_primary", "bool", "isPrimary"),
                Column("users", "json", "users"),
            ),
        ),
        # written by the source itself (not records as FUB serves them), read by the marts'
        # deletion flags: the deletion checks' findings and the *Deleted webhooks' ids
        Table(
            "id_changes",
            (
                Column("user_id", "bigint", nullable=False),
                Column("entity", "text", nullable=False),
                Column("id", "bigint", nullable=False),
                Column("change", "text", nullable=False),
                Column("observed_at", "timestamp", nullable=False),
            ),
        ),
        Table(
            "deleted_ids",
            (
                Column("user_id", "bigint", nullable=False),
                Column("entity", "text", nullable=False),
                Column("id", "bigint", nullable=False),
                Column("deleted_at", "timestamp"),
            ),
        ),
    )
}
