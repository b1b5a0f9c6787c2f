"""Column mappings: which source column feeds which field of a unit response.

One mapping model serves every CSV export. The DataSF *Calls for Service*
format (``sffd``) is a built-in mapping whose fields list the several column
names that format has used over the years; any other CAD export is described
by a small YAML file (see ``docs/history.md``)::

    name: my-city-cad
    timezone: Europe/Helsinki           # optional; --tz wins
    timestamp_formats: ["%d.%m.%Y %H:%M:%S", iso]
    columns:
      response_id: [ResponseKey]        # optional: default "<call_id>-<unit_id>"
      call_id: CallNo
      unit_id: Unit
      received_at: Received
      location: Position                # or lat: / lon:
      ...

Header names are compared case-, space- and underscore-insensitively, so
``Neighborhood  District`` and ``neighborhood_district`` are the same column.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from vigil.core.errors import ConfigError


class Column(StrEnum):
    """A field of the ``responses`` view that a source column can feed."""

    RESPONSE_ID = "response_id"
    CALL_ID = "call_id"
    INCIDENT_ID = "incident_id"
    UNIT_ID = "unit_id"
    UNIT_TYPE = "unit_type"
    CALL_TYPE = "call_type"
    CALL_TYPE_GROUP = "call_type_group"
    PRIORITY = "priority"
    FINAL_PRIORITY = "final_priority"
    UNIT_SEQUENCE = "unit_sequence"
    STATION_AREA = "station_area"
    BATTALION = "battalion"
    ZONE = "zone"
    ADDRESS = "address"
    LAT = "lat"
    LON = "lon"
    LOCATION = "location"
    ORIGIN_STATION = "origin_station"
    DISPOSITION = "disposition"
    RECEIVED_AT = "received_at"
    ENTRY_AT = "entry_at"
    DISPATCH_AT = "dispatch_at"
    EN_ROUTE_AT = "en_route_at"
    ON_SCENE_AT = "on_scene_at"
    TRANSPORT_AT = "transport_at"
    HOSPITAL_AT = "hospital_at"
    AVAILABLE_AT = "available_at"


# In response order: an ambiguous DST time is resolved against the one before it.
TIMESTAMP_COLUMNS: tuple[Column, ...] = (
    Column.RECEIVED_AT,
    Column.ENTRY_AT,
    Column.DISPATCH_AT,
    Column.EN_ROUTE_AT,
    Column.ON_SCENE_AT,
    Column.TRANSPORT_AT,
    Column.HOSPITAL_AT,
    Column.AVAILABLE_AT,
)
TEXT_COLUMNS: tuple[Column, ...] = (
    Column.RESPONSE_ID,
    Column.CALL_ID,
    Column.INCIDENT_ID,
    Column.UNIT_ID,
    Column.UNIT_TYPE,
    Column.CALL_TYPE,
    Column.CALL_TYPE_GROUP,
    Column.PRIORITY,
    Column.FINAL_PRIORITY,
    Column.STATION_AREA,
    Column.BATTALION,
    Column.ZONE,
    Column.ADDRESS,
    Column.ORIGIN_STATION,
    Column.DISPOSITION,
)
REQUIRED: tuple[Column, ...] = (Column.CALL_ID, Column.UNIT_ID, Column.RECEIVED_AT)


def normalise_header(name: str) -> str:
    """Return a header name folded for comparison (case, spaces, underscores, BOM)."""
    return re.sub(r"[\s_]+", " ", name.replace("\ufeff", "")).strip().lower()


class ColumnMapping(BaseModel):
    """How one CAD export's columns map onto unit-response fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Short name of the format, stored with each row as 'source'.")
    timezone: str | None = Field(
        default=None, description="IANA zone of the wall-clock times; the --tz option wins."
    )
    timestamp_formats: tuple[str, ...] = Field(
        default=("iso", "us"),
        min_length=1,
        description="Formats tried in order: 'iso', 'us' (MM/DD/YYYY hh:mm:ss AM) or strptime.",
    )
    delimiter: Annotated[str, Field(min_length=1, max_length=1)] = Field(
        default=",", description="CSV field delimiter."
    )
    columns: dict[Column, tuple[str, ...]] = Field(
        description="Field -> source column name (or list of alternative names)."
    )
    origin_station_from_unit: str | None = Field(
        default=None,
        description="Regular expression on unit_id whose first group is the unit's home "
        "station, used when no origin_station column is mapped (e.g. '^[ET]0*(\\d+)$').",
    )

    @field_validator("columns", mode="before")
    @classmethod
    def _names_as_tuples(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: (v,) if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("columns")
    @classmethod
    def _required_present(
        cls, value: dict[Column, tuple[str, ...]]
    ) -> dict[Column, tuple[str, ...]]:
        missing = [c.value for c in REQUIRED if c not in value]
        if missing:
            raise ValueError(f"required field(s) not mapped: {', '.join(missing)}")
        if Column.LOCATION in value and (Column.LAT in value or Column.LON in value):
            raise ValueError("map either 'location' or 'lat'/'lon', not both")
        if (Column.LAT in value) != (Column.LON in value):
            raise ValueError("'lat' and 'lon' must be mapped together")
        return value

    @field_validator("origin_station_from_unit")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                if re.compile(value).groups < 1:
                    raise ValueError("the expression needs one capturing group")
            except re.error as err:
                raise ValueError(f"not a valid regular expression: {err}") from err
        return value

    def resolve(self, header: list[str]) -> dict[Column, int]:
        """Return the header index of every mapped field; ConfigError names a missing one."""
        index = {normalise_header(h): i for i, h in enumerate(header)}
        out: dict[Column, int] = {}
        for field, names in self.columns.items():
            found = next((index[n] for n in map(normalise_header, names) if n in index), None)
            if found is not None:
                out[field] = found
            elif field in REQUIRED:
                raise ConfigError(
                    f"the file has no column {' or '.join(repr(n) for n in names)} "
                    f"for the required field {field.value}",
                    field=field.value,
                )
        return out


SFFD = ColumnMapping(
    name="sffd",
    timezone="America/Los_Angeles",
    timestamp_formats=("us", "iso"),
    columns={
        Column.RESPONSE_ID: ("RowID", "rowid"),
        Column.CALL_ID: ("Call Number", "call_number"),
        Column.INCIDENT_ID: ("Incident Number", "incident_number"),
        Column.UNIT_ID: ("Unit ID", "unit_id"),
        Column.UNIT_TYPE: ("Unit Type", "unit_type"),
        Column.CALL_TYPE: ("Call Type", "call_type"),
        Column.CALL_TYPE_GROUP: ("Call Type Group", "call_type_group"),
        Column.PRIORITY: ("Original Priority", "original_priority"),
        Column.FINAL_PRIORITY: ("Final Priority", "final_priority"),
        Column.UNIT_SEQUENCE: ("Unit sequence in call dispatch", "unit_sequence_in_call_dispatch"),
        Column.STATION_AREA: ("Station Area", "station_area"),
        Column.BATTALION: ("Battalion",),
        Column.ZONE: (
            "Neighborhooods - Analysis Boundaries",
            "Neighborhoods - Analysis Boundaries",
            "Neighborhood District",
            "neighborhoods_analysis_boundaries",
            "neighborhood_district",
        ),
        Column.ADDRESS: ("Address",),
        Column.LOCATION: ("Location", "case_location", "point"),
        Column.DISPOSITION: ("Call Final Disposition", "call_final_disposition"),
        Column.RECEIVED_AT: ("Received DtTm", "received_dttm"),
        Column.ENTRY_AT: ("Entry DtTm", "entry_dttm"),
        Column.DISPATCH_AT: ("Dispatch DtTm", "dispatch_dttm"),
        Column.EN_ROUTE_AT: ("Response DtTm", "response_dttm"),
        Column.ON_SCENE_AT: ("On Scene DtTm", "on_scene_dttm"),
        Column.TRANSPORT_AT: ("Transport DtTm", "transport_dttm"),
        Column.HOSPITAL_AT: ("Hospital DtTm", "hospital_dttm"),
        Column.AVAILABLE_AT: ("Available DtTm", "available_dttm"),
    },
    # SFFD engines and trucks are numbered after the station that houses them
    # (Engine 7 and Truck 7 run from Station 7); medics and chiefs are not.
    origin_station_from_unit=r"^[ET]0*(\d+)$",
)

BUILTIN: dict[str, ColumnMapping] = {"sffd": SFFD}


def load_mapping(fmt: str | Path) -> ColumnMapping:
    """Return a built-in mapping by name, or read one from a YAML file."""
    if isinstance(fmt, str) and fmt in BUILTIN:
        return BUILTIN[fmt]
    path = Path(fmt)
    if not path.is_file():
        known = ", ".join(sorted(BUILTIN))
        raise ConfigError(
            f"unknown format {str(fmt)!r}: use one of {known} or a mapping YAML file",
            field="format",
        )
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read the mapping: {err}", field="format") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a mapping file is a YAML mapping", field="format")
    try:
        return ColumnMapping(**data)
    except PydanticValidationError as err:
        lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()]
        raise ConfigError(f"{path}: " + "; ".join(lines), field="format") from err
