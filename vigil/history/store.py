"""The analysis store of historical unit responses: Parquet files read by DuckDB.

Layout under the root (default ``<data_dir>/history``)::

    responses/<key>.parquet   one file per imported source file (key = content hash + format)
    rejects/<key>.parquet     its bad rows: line, reason, raw record
    imports/<key>.json        its import report

Re-importing the same file rewrites the same three files, so an import is
idempotent; the ``responses`` view keeps one row per ``response_id`` across
files (the most recent import wins), so overlapping exports do not double count.
This is the analysis store, not the live event log: nothing here is evidence of
what the platform did, only of what the city's CAD recorded.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Never

import duckdb
import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from vigil.core.errors import StoreError, ValidationError
from vigil.history.localtime import zone
from vigil.history.mapping import (
    TEXT_COLUMNS,
    TIMESTAMP_COLUMNS,
    Column,
    ColumnMapping,
    load_mapping,
)
from vigil.history.rows import BadRowError, RowParser

# The columns of every responses file and of the ``responses`` view, in order.
SCHEMA: tuple[tuple[str, str], ...] = (
    ("response_id", "VARCHAR"),
    ("call_id", "VARCHAR"),
    ("incident_id", "VARCHAR"),
    ("unit_id", "VARCHAR"),
    ("unit_type", "VARCHAR"),
    ("call_type", "VARCHAR"),
    ("call_type_group", "VARCHAR"),
    ("priority", "VARCHAR"),
    ("final_priority", "VARCHAR"),
    ("unit_sequence", "INTEGER"),
    ("station_area", "VARCHAR"),
    ("battalion", "VARCHAR"),
    ("zone", "VARCHAR"),
    ("address", "VARCHAR"),
    ("lat", "DOUBLE"),
    ("lon", "DOUBLE"),
    ("origin_station", "VARCHAR"),
    ("disposition", "VARCHAR"),
    ("received_at", "TIMESTAMPTZ"),
    ("entry_at", "TIMESTAMPTZ"),
    ("dispatch_at", "TIMESTAMPTZ"),
    ("en_route_at", "TIMESTAMPTZ"),
    ("on_scene_at", "TIMESTAMPTZ"),
    ("transport_at", "TIMESTAMPTZ"),
    ("hospital_at", "TIMESTAMPTZ"),
    ("available_at", "TIMESTAMPTZ"),
    ("source", "VARCHAR"),
    ("format", "VARCHAR"),
    ("line", "BIGINT"),
    ("source_sha256", "VARCHAR"),
    ("imported_at", "TIMESTAMPTZ"),
)
# Stored for provenance and de-duplication, not shown in ``responses``.
_HIDDEN = ("source_sha256", "imported_at")
REJECT_SCHEMA: tuple[tuple[str, str], ...] = (
    ("source", "VARCHAR"),
    ("line", "BIGINT"),
    ("reason", "VARCHAR"),
    ("raw", "VARCHAR"),
    ("source_sha256", "VARCHAR"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class BadRow:
    """A source record that was not imported, and why."""

    line: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportReport:
    """What an import read, kept and rejected."""

    source: str
    path: str
    format: str
    timezone: str
    sha256: str
    key: str
    rows_read: int
    imported: int
    rejected: int
    bad_rows: tuple[BadRow, ...]
    reasons: dict[str, int]
    replaced_previous: bool
    imported_at: datetime
    columns_mapped: tuple[str, ...]
    columns_missing: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, object]:
        """Return the report as plain JSON values."""
        out = asdict(self)
        out["imported_at"] = self.imported_at.isoformat()
        return out


class _Accumulator:
    """Collects the parsed columns and the rejects of one file, in order."""

    def __init__(self, parser: RowParser, delimiter: str) -> None:
        self.parser = parser
        self.delimiter = delimiter
        self.rows: dict[str, list[object]] = {name: [] for name, _ in SCHEMA}
        self.rejects: list[tuple[int, str, str]] = []
        self.kinds: list[str] = []
        self.seen: dict[str, int] = {}
        self.read = 0

    def reject(self, line: int, reason: str, kind: str, record: list[str]) -> None:
        self.read += 1
        self.rejects.append((line, reason, _raw(record, self.delimiter)))
        self.kinds.append(kind)

    def add(self, line: int, record: list[str]) -> None:
        try:
            parsed = self.parser.parse(record)
        except BadRowError as err:
            self.reject(line, str(err), err.kind, record)
            return
        rid = parsed.text[Column.RESPONSE_ID]
        assert rid is not None
        if rid in self.seen:
            why = f"duplicate response_id {rid!r} (first at line {self.seen[rid]})"
            self.reject(line, why, "duplicate response_id", record)
            return
        self.read += 1
        self.seen[rid] = line
        rows = self.rows
        for col in TEXT_COLUMNS:
            rows[col.value].append(parsed.text[col])
        rows["unit_sequence"].append(parsed.unit_sequence)
        rows["lat"].append(parsed.lat)
        rows["lon"].append(parsed.lon)
        for col in TIMESTAMP_COLUMNS:
            at = parsed.times[col]
            rows[col.value].append(None if at is None else at.replace(tzinfo=None))
        rows["line"].append(line)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _lines(raw: IO[bytes], bar: tqdm[Never]) -> Iterator[str]:
    """Yield decoded lines, advancing the progress bar by bytes read."""
    first = True
    for chunk in raw:
        bar.update(len(chunk))
        text = chunk.decode("utf-8")
        if first:
            text = text.removeprefix("\ufeff")
            first = False
        yield text


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


class HistoryStore:
    """Historical unit responses of a city, imported from its CAD exports."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> HistoryStore:
        """Return the store at its default place, ``<data_dir>/history``."""
        return cls(data_dir / "history")

    @property
    def _responses(self) -> Path:
        return self.root / "responses"

    @property
    def _rejects(self) -> Path:
        return self.root / "rejects"

    @property
    def _imports(self) -> Path:
        return self.root / "imports"

    # ------------------------------------------------------------ import
    def import_file(
        self, path: Path, fmt: str | Path | ColumnMapping, *, tz: str | None, progress: bool
    ) -> ImportReport:
        """Import one CSV export; bad rows are reported with line and reason, never dropped."""
        mapping = fmt if isinstance(fmt, ColumnMapping) else load_mapping(fmt)
        tz_name = tz or mapping.timezone
        if tz_name is None:
            raise ValidationError(
                f"the time zone of {path.name} is unknown: pass --tz (e.g. America/Los_Angeles) "
                "or set 'timezone' in the mapping",
                field="tz",
            )
        zinfo = zone(tz_name)
        if not path.is_file():
            raise ValidationError(f"{path} does not exist", field="path")
        sha = _file_sha256(path)
        key = f"{sha[:20]}-{mapping.name}"
        with (
            path.open("rb") as raw,
            tqdm(
                total=path.stat().st_size,
                desc=f"import {path.name}",
                unit="B",
                unit_scale=True,
                disable=not progress,
            ) as bar,
        ):
            reader = csv.reader(_lines(raw, bar), delimiter=mapping.delimiter)
            try:
                header = next(reader)
            except StopIteration:
                raise ValidationError(f"{path.name} is empty", field="path") from None
            except (csv.Error, UnicodeDecodeError) as err:
                raise ValidationError(f"{path.name}: unreadable header: {err}") from err
            index = mapping.resolve(header)
            acc = _Accumulator(RowParser(mapping, index, header, zinfo), mapping.delimiter)
            line = reader.line_num + 1
            while True:
                try:
                    record = next(reader)
                except StopIteration:
                    break
                except (csv.Error, UnicodeDecodeError) as err:
                    acc.reject(line, f"unreadable record: {err}", "unreadable record", [])
                    line = reader.line_num + 1
                    continue
                start, line = line, reader.line_num + 1
                if record:  # a blank line holds no record
                    acc.add(start, record)
        rows, rejects, kinds, read = acc.rows, acc.rejects, acc.kinds, acc.read
        n = len(rows["response_id"])
        imported_at = datetime.now(UTC)
        rows["source"] = [path.name] * n
        rows["format"] = [mapping.name] * n
        rows["source_sha256"] = [sha] * n
        rows["imported_at"] = [imported_at.replace(tzinfo=None)] * n
        replaced = (self._responses / f"{key}.parquet").is_file()
        self._write(rows, rejects, path.name, sha, key)
        mapped = tuple(c.value for c in Column if c in index)
        report = ImportReport(
            source=path.name,
            path=str(path.resolve()),
            format=mapping.name,
            timezone=tz_name,
            sha256=sha,
            key=key,
            rows_read=read,
            imported=n,
            rejected=len(rejects),
            bad_rows=tuple(BadRow(line=ln, reason=why) for ln, why, _ in rejects),
            reasons=dict(Counter(kind for kind in kinds).most_common()),
            replaced_previous=replaced,
            imported_at=imported_at,
            columns_mapped=mapped,
            columns_missing=tuple(
                c.value for c in mapping.columns if c not in index and c.value not in mapped
            ),
        )
        self._imports.mkdir(parents=True, exist_ok=True)
        _atomic_text(self._imports / f"{key}.json", json.dumps(report.to_json(), indent=2))
        return report

    def _write(
        self,
        rows: dict[str, list[object]],
        rejects: list[tuple[int, str, str]],
        source: str,
        sha: str,
        key: str,
    ) -> None:
        self._responses.mkdir(parents=True, exist_ok=True)
        self._rejects.mkdir(parents=True, exist_ok=True)
        batch = {name: _array(rows[name], kind) for name, kind in SCHEMA}
        bad = {
            "source": _array([source] * len(rejects), "VARCHAR"),
            "line": _array([r[0] for r in rejects], "BIGINT"),
            "reason": _array([r[1] for r in rejects], "VARCHAR"),
            "raw": _array([r[2] for r in rejects], "VARCHAR"),
            "source_sha256": _array([sha] * len(rejects), "VARCHAR"),
        }
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            for name, data, schema, folder in (
                ("batch", batch, SCHEMA, self._responses),
                ("bad", bad, REJECT_SCHEMA, self._rejects),
            ):
                con.register(name, data)
                select = ", ".join(f"CAST({c} AS {t}) AS {c}" for c, t in schema)
                tmp = folder / f".{key}.parquet.part"
                con.execute(
                    f"COPY (SELECT {select} FROM {name}) TO {_sql_path(tmp)} "  # noqa: S608 - names are ours
                    "(FORMAT parquet, COMPRESSION zstd)"
                )
                tmp.replace(folder / f"{key}.parquet")
        except duckdb.Error as err:
            raise StoreError(f"cannot write the history store under {self.root}: {err}") from err
        finally:
            con.close()

    # ------------------------------------------------------------ read
    def imports(self) -> list[dict[str, object]]:
        """Return the reports of every import held, oldest first."""
        if not self._imports.is_dir():
            return []
        out: list[dict[str, object]] = []
        for p in self._imports.glob("*.json"):
            data = json.loads(p.read_text("utf-8"))
            if isinstance(data, dict):
                out.append(data)
        out.sort(key=lambda r: str(r.get("imported_at", "")))
        return out

    def connect(self) -> duckdb.DuckDBPyConnection:
        """Return an in-memory DuckDB connection with the views ``responses``,
        ``response_rows`` (every imported row, duplicates across files included) and
        ``import_rejects``; timestamps are TIMESTAMPTZ, the session zone is UTC."""
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        hidden = ", ".join(_HIDDEN)
        if any(self._responses.glob("*.parquet")):
            glob = _sql_path(self._responses / "*.parquet")
            con.execute(
                "CREATE VIEW response_rows AS SELECT * FROM "  # noqa: S608 - the path is quoted
                f"read_parquet({glob}, union_by_name = true)"
            )
        else:
            cols = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in SCHEMA)
            con.execute(f"CREATE VIEW response_rows AS SELECT {cols} WHERE false")
        con.execute(
            f"""CREATE VIEW responses AS
            SELECT * EXCLUDE ({hidden}, _rank) FROM (
              SELECT *, row_number() OVER (
                PARTITION BY response_id ORDER BY imported_at DESC, source_sha256) AS _rank
              FROM response_rows)
            WHERE _rank = 1"""  # noqa: S608 - names are ours
        )
        if any(self._rejects.glob("*.parquet")):
            glob = _sql_path(self._rejects / "*.parquet")
            con.execute(f"CREATE VIEW import_rejects AS SELECT * FROM read_parquet({glob})")  # noqa: S608 - the path is quoted
        else:
            cols = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in REJECT_SCHEMA)
            con.execute(f"CREATE VIEW import_rejects AS SELECT {cols} WHERE false")
        return con

    def count(self) -> int:
        """Return the number of distinct unit responses held."""
        con = self.connect()
        try:
            row = con.execute("SELECT count(*) FROM responses").fetchone()
        finally:
            con.close()
        return int(row[0]) if row else 0


def _array(values: list[object], kind: str) -> NDArray[Any]:
    if kind == "TIMESTAMPTZ":
        return np.array(values, dtype="datetime64[us]")
    if kind == "DOUBLE":
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return np.array(values, dtype=object)


def _raw(record: list[str], delimiter: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="").writerow(record)
    return buf.getvalue()


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text, "utf-8")
    tmp.replace(path)
