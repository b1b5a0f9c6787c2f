"""CSV replay of recorded observations (tests, demos, back-fills).

Columns: ``device_id, stream, ts, value`` required; ``seq`` or ``id``, ``unit``
and ``attrs`` (a JSON object) optional. Each row goes through the same parser
checks as an MQTT message; a bad row is counted and dead-lettered with its line
number, and the replay goes on. With ``speed`` set, rows are paced by their
timestamps (speed 60 = one recorded minute per second).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from vigil.core.clock import Clock
from vigil.core.errors import ValidationError
from vigil.ingest.parse import Parsed, Parser, Reject, RejectReason, WireObservation, schema_reject
from vigil.ingest.pipeline import IngestPipeline

REQUIRED = ("device_id", "stream", "ts", "value")
OPTIONAL = ("seq", "id", "unit", "attrs")


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay did."""

    rows: int
    stored: int
    duplicates: int
    rejected: int


def _row_item(row: dict[str, str]) -> dict[str, Any]:
    item: dict[str, Any] = {k: v for k, v in row.items() if k in REQUIRED and v != ""}
    for key in OPTIONAL:
        value = row.get(key)
        if value:
            item[key] = value
    if "attrs" in item:
        try:
            item["attrs"] = msgspec.json.decode(item["attrs"])
        except msgspec.DecodeError as err:
            raise Reject(
                RejectReason.MALFORMED_JSON, "attrs", f"attrs is not JSON: {err}"
            ) from None
    value = item.get("value", "").strip().lower()
    if value in {"true", "false"}:
        item["value"] = value == "true"
    return item


def _parse_rows(
    parser: Parser, path: Path, rows: Iterator[tuple[int, dict[str, str], str]], now: datetime
) -> Iterator[tuple[Parsed, datetime | None]]:
    for line, row, text in rows:
        out = Parsed()
        ts: datetime | None = None
        try:
            item = _row_item(row)
            try:
                wire = msgspec.convert(item, WireObservation, strict=False)
            except msgspec.ValidationError as err:
                raise schema_reject(err, f"line {line}") from None
            ts = wire.ts
            obs = parser.build(
                wire, wire.device_id, wire.stream, now, site=None, prefix=f"line {line}"
            )
        except Reject as r:
            out.rejections.append(
                parser.reject(r, "csv", str(path), text.encode(), row.get("device_id"))
            )
        else:
            out.observations.append(obs)
        yield out, ts


def _lines(path: Path) -> Iterator[tuple[int, dict[str, str], str]]:
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        header = fh.readline()
        names = next(csv.reader([header]), [])
        missing = [c for c in REQUIRED if c not in names]
        if missing:
            raise ValidationError(
                f"{path}: CSV lacks column(s) {', '.join(missing)}", field="columns"
            )
        for line, text in enumerate(fh, start=2):
            if not text.strip():
                continue
            values = next(csv.reader([text]), [])
            yield line, dict(zip(names, values, strict=False)), text.rstrip("\r\n")


def replay(
    path: Path,
    *,
    parser: Parser,
    pipeline: IngestPipeline,
    clock: Clock,
    speed: float | None = None,
    chunk: int = 1000,
    progress: Callable[[int], object] | None = None,
    sleep: Callable[[float], object] = time.sleep,
) -> ReplayResult:
    """Replay a CSV file through the pipeline; return the counts."""
    rows = stored = duplicates = rejected = 0
    batch = Parsed()
    first_ts: datetime | None = None
    started = time.monotonic()

    def flush() -> None:
        nonlocal stored, duplicates, rejected, batch
        result = pipeline.commit(batch)
        stored += len(result.stored)
        duplicates += len(result.duplicates)
        rejected += len(result.rejections)
        if progress is not None:
            progress(len(batch.observations) + len(batch.rejections))
        batch = Parsed()

    for parsed, ts in _parse_rows(parser, path, _lines(path), clock.now()):
        rows += 1
        if speed is not None and ts is not None:
            first_ts = first_ts or ts
            due = (ts - first_ts).total_seconds() / speed - (time.monotonic() - started)
            if due > 0:
                if batch.observations or batch.rejections:
                    flush()
                sleep(due)
        batch.extend(parsed)
        if len(batch.observations) + len(batch.rejections) >= chunk:
            flush()
    if batch.observations or batch.rejections:
        flush()
    return ReplayResult(rows=rows, stored=stored, duplicates=duplicates, rejected=rejected)
