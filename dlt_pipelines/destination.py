"""The PostgreSQL destination every pipeline writes through: dlt's own, with a CSV ``COPY`` that
keeps an empty string apart from ``NULL``.

dlt writes a table's rows as ``INSERT`` statements when the source yields Python dicts, and as a
CSV file loaded by ``COPY`` when it yields Arrow tables (its Arrow writer; PostgreSQL's
preferred format stays ``insert_values``, so dict rows never become CSV — see
:func:`_arrow_csv_only`). dlt's PostgreSQL CSV job (``PostgresCsvCopyJob``) copies every
nullable column with ``FORCE_NULL``, which turns a *quoted* empty string ``""`` into ``NULL``
too: right for dlt's dict CSV writer (Python's ``csv`` module writes ``None`` as ``""``), wrong
for the Arrow writer, which writes ``NULL`` as an empty unquoted field and ``""`` as ``""``.
:class:`ExactCsvCopyJob` is the same ``COPY`` without ``FORCE_NULL``, so what lands is exactly
what the Arrow batch held: ``NULL`` for null, ``''`` for an empty string.

Everything else (schema migrations, INSERT jobs, state, capabilities) is dlt's ``postgres``.
"""

from __future__ import annotations

import copy
import csv
import io
import os
from collections.abc import Sequence
from typing import Any

from dlt.common.destination.client import HasFollowupJobs, LoadJob, RunnableLoadJob
from dlt.common.destination.exceptions import DestinationInvalidFileFormat
from dlt.common.destination.typing import PreparedTableSchema
from dlt.common.storages.file_storage import FileStorage
from dlt.common.storages.load_storage import ParsedLoadJobFileName
from dlt.destinations import postgres
from dlt.destinations.impl.postgres.postgres import PostgresClient

CSV = "csv"
COPY_BUFFER = 1 << 20


class ExactCsvCopyJob(RunnableLoadJob, HasFollowupJobs):
    """``COPY`` of a CSV file written by dlt's Arrow writer: ``NULL`` is an unquoted empty
    field, a quoted ``""`` is the empty string (no ``FORCE_NULL``)."""

    def __init__(self, file_path: str) -> None:
        super().__init__(file_path)
        self._job_client: PostgresClient = None  # type: ignore[assignment]

    def run(self) -> None:
        client = self._job_client
        sql_client = client.sql_client
        table = self.load_table_name
        known = set(client.schema.get_table_columns(table))
        with FileStorage.open_zipsafe_ro(self._file_path, "rb") as f:
            header = f.readline().decode("utf-8")
            names = next(csv.reader(io.StringIO(header)), [])
            unknown = [n for n in names if n not in known]
            if not names or unknown:
                raise DestinationInvalidFileFormat(
                    "postgres",
                    CSV,
                    self._file_path,
                    f"CSV header {names} names columns {unknown} that table {table} does not have",
                )
            columns = ",".join(sql_client.escape_column_name(n) for n in names)
            copy_sql = (
                f"COPY {sql_client.make_qualified_table_name(table)} ({columns}) FROM STDIN "
                "WITH (FORMAT CSV, DELIMITER ',', NULL '', ENCODING 'UTF8')"
            )
            with (
                sql_client.begin_transaction(),
                sql_client.native_connection.cursor() as cursor,
            ):
                cursor.copy_expert(copy_sql, f, size=COPY_BUFFER)


class ExactCsvPostgresClient(PostgresClient):
    """dlt's PostgreSQL client; CSV files are loaded by :class:`ExactCsvCopyJob`."""

    def create_load_job(
        self, table: PreparedTableSchema, file_path: str, load_id: str, restore: bool = False
    ) -> LoadJob:
        if ParsedLoadJobFileName.parse(file_path).file_format == CSV:
            return ExactCsvCopyJob(file_path)
        return super().create_load_job(table, file_path, load_id, restore)


def _arrow_csv_only(inner: Any) -> Any:
    """Wrap dlt's file format selector so nothing asks for CSV explicitly.

    Arrow tables become CSV by themselves (PostgreSQL prefers ``insert_values``, which has no
    native Arrow writer, so dlt picks the next supported format with one: CSV). A dict row only
    becomes CSV when CSV is asked for — ``loader_file_format="csv"`` or a table's
    ``file_format`` hint — and its writer cannot tell ``None`` from ``""``: refused here, so
    :class:`ExactCsvCopyJob` only ever reads files written from Arrow.
    """

    def select(
        preferred: str, supported: Sequence[str], /, *, table_schema: Any
    ) -> tuple[str, Sequence[str]]:
        if preferred == CSV or table_schema.get("file_format") == CSV:
            raise ValueError(
                f"table {table_schema.get('name')}: this destination loads CSV written from "
                "Arrow tables only; dict rows load as INSERT (do not ask for csv)"
            )
        if inner is None:
            return preferred, supported
        return inner(preferred, supported, table_schema=table_schema)

    return select


#: capabilities answered without an explicit configuration, by the factory's arguments and the
#: process's destination settings (:meth:`postgres_copy.capabilities`)
_ANSWERED: dict[tuple[str, str, tuple[tuple[str, str], ...]], dict[tuple, Any]] = {}


def _destination_environment() -> tuple[tuple[str, str], ...] | None:
    """The environment's destination settings (what dlt resolves the configuration from, besides
    the factory's arguments), or None when one is scoped to a pipeline (``<PIPELINE>__
    DESTINATION__...``): capabilities may then differ from one pipeline to the next."""
    found = sorted((k, v) for k, v in os.environ.items() if "DESTINATION" in k.upper())
    if any(not k.upper().startswith("DESTINATION") for k, _ in found):
        return None
    return tuple(found)


class postgres_copy(postgres):
    """dlt's ``postgres`` destination with :class:`ExactCsvCopyJob` for CSV (Arrow) files, which
    answers dlt's capability questions once.

    dlt asks the destination for its capabilities about ten times per ``pipeline.run`` and
    resolves the whole destination configuration from every config provider each time (19 ms
    apiece here): on a quiet day, when a run loads nothing, that was a third of a daily step's
    time. The capabilities without an explicit configuration depend only on the factory's
    arguments, the environment's destination settings and the naming convention, so they are
    answered once per process for each of those (a copy each time: dlt assigns to the object it
    gets), not once per pipeline: a daily run makes a pipeline per agent and step, and each one
    answering them anew cost ~12 ms a step. A destination setting scoped to one pipeline name
    keeps the answer per instance. With an explicit configuration (the client's) dlt's own path
    runs.
    """

    def capabilities(self, config: Any = None, naming: Any = None) -> Any:
        if config is not None:
            return super().capabilities(config, naming)
        setting = _destination_environment()
        if setting is None:  # a setting scoped to one pipeline: answered per instance
            answered = self.__dict__.setdefault("_answered_capabilities", {})
        else:  # the same answer for every pipeline of the process (one per agent and source)
            answered = _ANSWERED.setdefault(
                (repr(sorted(self.config_params.items())), repr(self.caps_params), setting), {}
            )
        key = (type(naming), getattr(naming, "max_length", None))
        if key not in answered:
            answered[key] = super().capabilities(None, naming)
        return copy.copy(answered[key])

    def _raw_capabilities(self) -> Any:
        caps = super()._raw_capabilities()
        caps.loader_file_format_selector = _arrow_csv_only(caps.loader_file_format_selector)
        return caps

    @property
    def client_class(self) -> type[ExactCsvPostgresClient]:
        return ExactCsvPostgresClient


def configure_pipeline(pipeline_name: str) -> None:
    """dlt settings of one pipeline (scoped to its name; an explicit environment value wins).

    - load files uncompressed: gzip cost ~0.3 ms per person for files deleted once loaded;
    - Arrow tables get ``_dlt_load_id`` and ``_dlt_id`` like dict rows do (dlt adds neither to
      Arrow by default), so every raw table has both whichever way its rows came.
    """
    prefix = pipeline_name.upper()
    os.environ.setdefault(f"{prefix}__NORMALIZE__DATA_WRITER__DISABLE_COMPRESSION", "true")
    os.environ.setdefault(f"{prefix}__NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
    os.environ.setdefault(f"{prefix}__NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID", "true")
