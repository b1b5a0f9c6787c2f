"""The camera file (``CAMERAS.yaml``): cameras, their zones, lines and schedules.

Validated at the edge with pydantic (unknown keys are errors naming the field),
then turned into the frozen domain types of `vigil.video.model`.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from vigil.core.errors import ConfigError
from vigil.video.layout import line_problem, polygon_problem

Point = tuple[float, float]
ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,40}$"
CLASSES = ("person", "vehicle", "bicycle")
M = TypeVar("M", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScheduleIn(_Strict):
    """A daily time window (local time of the camera); `start` > `end` wraps past midnight."""

    start: time = Field(description="Start of the window, HH:MM.")
    end: time = Field(description="End of the window, HH:MM (before start: the next day).")
    days: list[Annotated[int, Field(ge=0, le=6)]] = Field(
        default_factory=lambda: list(range(7)), description="Weekdays, 0 = Monday."
    )


class GatheringIn(_Strict):
    """Late-hour gathering: at least `min_people` in the zone within `hours` for `for_s`."""

    min_people: int = Field(ge=2, le=10_000, description="People needed at once.")
    for_s: float = Field(gt=0, le=86_400, description="How long they must stay, seconds.")
    hours: ScheduleIn = Field(description="When a gathering counts (e.g. 23:00-05:00).")


class ZoneIn(_Strict):
    """A zone: a polygon in image coordinates (pixels of the source frame)."""

    name: Annotated[str, Field(pattern=ID, description="Zone name, unique in the camera.")]
    polygon: list[Point] = Field(min_length=3, description="Vertices [x, y] in source pixels.")
    place: str | None = Field(
        default=None, max_length=100, description="The map zone it belongs to."
    )
    lat: float | None = Field(default=None, ge=-90, le=90, description="Where it is on the map.")
    lon: float | None = Field(default=None, ge=-180, le=180, description="Where it is on the map.")
    area_m2: float | None = Field(
        default=None, gt=0, description="Real ground area (else from the camera's homography)."
    )
    restricted: list[ScheduleIn] = Field(
        default_factory=list, description="Intrusion windows: any entry then is an intrusion."
    )
    intrusion_classes: list[Literal["person", "vehicle", "bicycle"]] = Field(
        default_factory=lambda: ["person"],  # type: ignore[arg-type]  # pydantic validates
        description="Which classes intrude.",
    )
    loitering_s: float | None = Field(
        default=None, gt=0, description="A person staying longer than this is loitering."
    )
    gathering: GatheringIn | None = Field(default=None, description="Late-hour gathering rule.")
    abandoned_s: float | None = Field(
        default=None, gt=0, description="A still object with nobody near for this long."
    )

    @field_validator("polygon")
    @classmethod
    def _simple(cls, v: list[Point]) -> list[Point]:
        why = polygon_problem(v)
        if why is not None:
            raise ValueError(why)
        return v


class LineIn(_Strict):
    """A counting line from `a` to `b`; crossing from its left to its right is `in`."""

    name: Annotated[str, Field(pattern=ID, description="Line name, unique in the camera.")]
    a: Point = Field(description="First end [x, y] in source pixels.")
    b: Point = Field(description="Second end [x, y] in source pixels.")

    @model_validator(mode="after")
    def _two_points(self) -> LineIn:
        why = line_problem([self.a, self.b])
        if why is not None:
            raise ValueError(why)
        return self


class DetectorIn(_Strict):
    """Which detector runs on the moving regions."""

    kind: Literal["hybrid", "hog", "motion", "onnx"] = Field(
        default="hybrid",
        description="hybrid: HOG people + motion-shape vehicles/bicycles (default, no model "
        "file); hog: people only; motion: shape classes only; onnx: a model file.",
    )
    model: Path | None = Field(default=None, description="ONNX model file (kind onnx).")
    labels: list[str] = Field(
        default_factory=list,
        description="ONNX class index -> label (COCO names are mapped to person/vehicle/...).",
    )
    min_confidence: float = Field(default=0.3, ge=0, le=1, description="Drop weaker detections.")

    @model_validator(mode="after")
    def _model_for_onnx(self) -> DetectorIn:
        if self.kind == "onnx" and self.model is None:
            raise ValueError("detector.model is required when detector.kind is onnx")
        return self


class CameraIn(_Strict):
    """One camera."""

    id: Annotated[str, Field(pattern=ID, description="Camera id (also its device id).")]
    source: str = Field(
        description="Video file, image-sequence folder or glob, rtsp:// or http(s):// URL."
    )
    lat: float = Field(ge=-90, le=90, description="Camera position on the map.")
    lon: float = Field(ge=-180, le=180, description="Camera position on the map.")
    label: str = Field(default="", max_length=200, description="Human label.")
    fps: float = Field(default=5.0, gt=0, le=30, description="Frames analysed per second.")
    width: int = Field(default=320, ge=96, le=1920, description="Motion analysis width, pixels.")
    zones: list[ZoneIn] = Field(default_factory=list, description="Zones (none: whole frame).")
    lines: list[LineIn] = Field(default_factory=list, description="Counting lines.")
    homography: list[list[float]] | None = Field(
        default=None,
        description="3x3 image->ground (metres) homography, for densities and distances.",
    )
    metres_per_pixel: float | None = Field(
        default=None, gt=0, description="Rough ground scale when no homography is given."
    )
    detector: DetectorIn = Field(default_factory=DetectorIn, description="The detector.")
    interval_s: float = Field(
        default=60.0, ge=1, le=3600, description="Count/density reporting interval, seconds."
    )
    loop: bool = Field(default=False, description="Replay a file source forever (demos).")
    reconnect_first_s: float = Field(
        default=1.0, gt=0, le=60, description="Live stream dropped: first reopen after this."
    )
    reconnect_max_s: float = Field(
        default=60.0, gt=0, le=3600, description="Longest wait between reopen attempts."
    )
    realtime: bool = Field(
        default=True, description="Pace file sources at their own frame rate (False: flat out)."
    )
    utc_offset_h: float = Field(
        default=0.0, ge=-14, le=14, description="Local time offset for schedules, hours."
    )

    @field_validator("homography")
    @classmethod
    def _three_by_three(cls, v: list[list[float]] | None) -> list[list[float]] | None:
        if v is not None and (len(v) != 3 or any(len(r) != 3 for r in v)):
            raise ValueError("homography must be a 3x3 matrix")
        return v

    @model_validator(mode="after")
    def _unique(self) -> CameraIn:
        names = [z.name for z in self.zones] + [ln.name for ln in self.lines]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"zone/line names must be unique, repeated: {sorted(dup)}")
        return self


class MqttIn(_Strict):
    """Where the worker publishes."""

    host: str = Field(default="127.0.0.1", description="Broker host.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port.")
    site: str = Field(default="default", pattern=r"^[A-Za-z0-9._-]{1,64}$", description="Site.")
    client_id: str = Field(default="vigil-video", description="MQTT client id.")


class RegisterIn(_Strict):
    """How the worker registers its cameras as Vigil devices (HTTP API)."""

    url: str = Field(description="Vigil base URL, e.g. http://127.0.0.1:8080.")
    token_env: str = Field(
        default="VIGIL_VIDEO_TOKEN", description="Environment variable holding a supervisor token."
    )


class SnapshotsIn(_Strict):
    """Blurred snapshots kept by the worker."""

    dir: Path = Field(default=Path("video-snapshots"), description="Where they are kept.")
    retention_days: float = Field(
        default=90.0,
        gt=0,
        description="Days a snapshot is kept: set it to the city's "
        "audit.personal_data_retention_days.",
    )
    upload: bool = Field(
        default=True, description="Send each event's blurred snapshot to Vigil (needs register)."
    )


class CamerasFile(_Strict):
    """A camera file: ``cameras: [...]`` and where the events go."""

    cameras: list[CameraIn] = Field(min_length=1, description="The cameras.")
    mqtt: MqttIn = Field(default_factory=MqttIn, description="MQTT broker.")
    registration: RegisterIn | None = Field(default=None, description="Device registration.")
    snapshots: SnapshotsIn = Field(default_factory=SnapshotsIn, description="Snapshots.")
    health_interval_s: float = Field(
        default=30.0, ge=1, le=3600, description="How often each camera reports its health."
    )

    @model_validator(mode="after")
    def _unique(self) -> CamerasFile:
        ids = [c.id for c in self.cameras]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"camera ids must be unique, repeated: {sorted(dup)}")
        return self


class ZonesFile(_Strict):
    """A zones file for ``vigil video analyze --zones``."""

    zones: list[ZoneIn] = Field(default_factory=list, description="Zones.")
    lines: list[LineIn] = Field(default_factory=list, description="Counting lines.")
    homography: list[list[float]] | None = Field(default=None, description="As for a camera.")
    metres_per_pixel: float | None = Field(default=None, gt=0, description="As for a camera.")
    detector: DetectorIn = Field(default_factory=DetectorIn, description="The detector.")


def _load(path: Path, model: type[M]) -> M:
    try:
        data: Any = yaml.safe_load(path.read_text("utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    try:
        return model.model_validate(data)
    except PydanticValidationError as err:
        e = err.errors()[0]
        where = ".".join(str(p) for p in e["loc"]) or "(file)"
        raise ConfigError(f"{path}: {where}: {e['msg']}", field=where) from err


def load_cameras(path: Path) -> CamerasFile:
    """Read and validate a camera file."""
    return _load(path, CamerasFile)


def load_zones(path: Path) -> ZonesFile:
    """Read and validate a zones file."""
    return _load(path, ZonesFile)
