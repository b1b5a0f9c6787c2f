"""Historical CAD records of a city, imported into the analysis store.

Public API::

    HistoryStore(root: Path)                       # default root <data_dir>/history
        .import_file(path, fmt, *, tz, progress) -> ImportReport
             # fmt: "sffd" (DataSF Calls for Service, both column spellings),
             #      a mapping YAML path, or a ColumnMapping
        .connect() -> duckdb.DuckDBPyConnection
             # views: responses (one row per response_id), response_rows, import_rejects
        .imports() -> list[dict]                   # saved import reports
        .count() -> int

    ImportReport(source, rows_read, imported, rejected, bad_rows=(BadRow(line, reason),...),
                 reasons={kind: n}, replaced_previous, ...)
    ColumnMapping, load_mapping(fmt), SFFD

The ``responses`` view has one row per unit response; its columns are
``vigil.history.store.SCHEMA`` less ``source_sha256`` and ``imported_at``.
Timestamps are TIMESTAMPTZ in UTC, converted from the city's zone DST-correctly
(see ``vigil.history.localtime``).
"""

from vigil.history.mapping import SFFD, Column, ColumnMapping, load_mapping
from vigil.history.store import SCHEMA, BadRow, HistoryStore, ImportReport

__all__ = [
    "SCHEMA",
    "SFFD",
    "BadRow",
    "Column",
    "ColumnMapping",
    "HistoryStore",
    "ImportReport",
    "load_mapping",
]
